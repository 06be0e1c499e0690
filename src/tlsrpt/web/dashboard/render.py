"""The dashboard's templates and the answers every page handler gives: a
page, the 404 page, the 403 page, a download. Templates are Jinja2 with
autoescape on and never `|safe`; their filters are in `formats`.

A handler that cannot show its page raises `NotFound` or `Forbidden`
(from a dependency too); `install` in `routes` answers them with the page.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from tlsrpt.analysis.explain import explain
from tlsrpt.store.users import Session
from tlsrpt.web.dashboard.formats import FILTERS, health

HERE = Path(__file__).parent


@cache
def templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals["health"] = health
    env.globals["explain"] = explain
    return Jinja2Templates(env=env)


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The template `name` with `context`; every page takes a `session`."""
    return templates().TemplateResponse(request, name, context, status_code=status)


class NotFound(Exception):
    """Answered by the 404 page: `what` does not exist or is not the user's."""

    def __init__(self, session: Session | None, what: str) -> None:
        super().__init__(what)
        self.session, self.what = session, what


class Forbidden(Exception):
    """Answered by the 403 page: not an admin, or a form without its CSRF token."""

    def __init__(self, session: Session | None) -> None:
        super().__init__("forbidden")
        self.session = session


def not_found_page(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, NotFound)
    return page(request, "not_found.html", 404, session=exc.session, what=exc.what)


def forbidden_page(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, Forbidden)
    return page(request, "forbidden.html", 403, session=exc.session)


def attachment(body: bytes | str, media_type: str, filename: str) -> Response:
    """A download; `filename` is built from our own ids, never report text."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=media_type, headers=headers)
