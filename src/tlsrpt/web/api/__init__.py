"""JSON API under /api/v1/ (bearer tokens): `build_router()` in `routes`."""

from tlsrpt.web.api.routes import PREFIX, install

__all__ = ["PREFIX", "install"]
