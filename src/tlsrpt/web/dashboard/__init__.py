"""Server-rendered dashboard (Jinja2, inline SVG charts): `build_router()` in `routes`."""

from tlsrpt.web.dashboard.routes import install

__all__ = ["install"]
