"""The interactive API documentation (Swagger UI at ``/docs``), served from this machine.

FastAPI's default ``/docs`` loads Swagger UI's script and style sheet from a CDN: on an offline gateway the
page stays blank, and a CDN script would run in the origin that holds tokens and health data. The assets
come from the ``swagger-ui-bundle`` package instead and are served under ``/docs/assets``; the page's
content policy admits only those (``'self'``) and its one inline script (by hash).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from web.headers import Page

ASSETS = "/docs/assets"


def swagger_ui_path() -> Path:
    """The directory of the Swagger UI files shipped by ``swagger-ui-bundle``."""
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (Swagger UI over ``app``'s ``/openapi.json``) with no request beyond this server."""
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_path()), name="docs-assets")
    html = get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} · API",
                               swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                               swagger_css_url=f"{ASSETS}/swagger-ui.css",
                               swagger_favicon_url=f"{ASSETS}/favicon-32x32.png").body.decode()
    page = Page(html, scripts_from_self=True)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return page.response()
