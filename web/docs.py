"""The interactive API documentation (Swagger UI at ``/docs``), served from this machine.

FastAPI's default pages load their scripts and style sheets from a CDN: on an offline gateway they stay
blank, and a CDN script would run in the origin that holds tokens and health data. The assets come from the
``fastapi-offline`` package instead (Swagger UI 5, which reads OpenAPI 3.1) and are served under
``/docs/assets``; the page's content policy admits only those (``'self'``) and its inline script (by hash).
ReDoc (in the same package) is not served: it loads its own logo from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from web.headers import Page

ASSETS = "/docs/assets"


def assets_path() -> Path:
    """The directory of the Swagger UI files shipped by ``fastapi-offline``."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (Swagger UI over ``app``'s ``/openapi.json``) with no request beyond this server."""
    app.mount(ASSETS, StaticFiles(directory=assets_path()), name="docs-assets")
    openapi, title = app.openapi_url or "/openapi.json", f"{app.title} · API"
    html = get_swagger_ui_html(openapi_url=openapi, title=title, swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                               swagger_css_url=f"{ASSETS}/swagger-ui.css", swagger_favicon_url=f"{ASSETS}/favicon.png")
    swagger = Page(html.body.decode(), scripts_from_self=True)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return swagger.response()
