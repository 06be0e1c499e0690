"""Server-rendered dashboard (Jinja2, inline SVG charts): `build_router()` in `routes`."""

from tlsrpt.web.dashboard.routes import error_page, install

__all__ = ["error_page", "install"]
