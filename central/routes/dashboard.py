"""Placeholder, filled in below."""


from fastapi import APIRouter

from central.routes.common import Context


def router(ctx: Context) -> APIRouter:
    return APIRouter()
