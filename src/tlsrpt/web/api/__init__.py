"""JSON API under /api/v1/ (bearer tokens): `build_router()` in `routes`;
the lists read a page at a time in `lists`."""

from fastapi import FastAPI

from tlsrpt.web.api import lists, routes
from tlsrpt.web.api.routes import PREFIX


def install(app: FastAPI) -> None:
    """Add the API to `app`, with its errors as problem details."""
    routes.install(app)
    app.include_router(lists.build_router())


__all__ = ["PREFIX", "install"]
