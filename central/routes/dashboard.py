"""The campus dashboard: one static page (HTML, CSS and JavaScript, no external resources) that calls the
API with a token the user pastes or passes in the URL fragment (``/dashboard#token=...``; a fragment never
reaches the server or its logs). The page itself needs no token."""


from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from central.routes.common import Context
from web.headers import Page


def router(ctx: Context) -> APIRouter:
    """``/`` redirects to ``/dashboard``, which serves the page."""
    api = APIRouter(tags=["dashboard"])
    page = Page(resources.files("central").joinpath("dashboard.html").read_text(encoding="utf-8"))

    @api.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @api.get("/dashboard", response_class=HTMLResponse, summary="The campus dashboard (a static page)")
    def dashboard() -> HTMLResponse:
        return page.response()

    return api
