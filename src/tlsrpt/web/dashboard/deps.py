"""What the dashboard's page handlers depend on, as FastAPI dependencies:
the store (`app.state.store`), the session (a redirect to /login without
one), an admin's session, the period asked for, a domain in a path.
A handler declares them in its signature, so it can be mounted and
called alone on any app whose `state.store` is set."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from tlsrpt.store import reads
from tlsrpt.store.engine import Store
from tlsrpt.store.users import Session
from tlsrpt.web.dashboard import auth
from tlsrpt.web.dashboard.rdns import ReverseNames
from tlsrpt.web.dashboard.render import Forbidden
from tlsrpt.web.segments import decoded

DAY_CHOICES = (7, 30, 60, 90)


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(store_of)]


def session_of(request: Request, store: StoreDep) -> Session:
    return auth.require_session(request, store)


SessionDep = Annotated[Session, Depends(session_of)]


def admin_of(session: SessionDep) -> Session:
    if not session.user.is_admin:
        raise Forbidden(session)
    return session


AdminDep = Annotated[Session, Depends(admin_of)]


def require_csrf(session: Session, given: str) -> None:
    """A form's token must be the session's (403 otherwise)."""
    if not auth.check_csrf(session.csrf_token, given):
        raise Forbidden(session)


def days_of(days: int = reads.DEFAULT_DAYS) -> int:
    """The period length asked for, or the default when out of range."""
    return days if 1 <= days <= reads.MAX_DAYS else reads.DEFAULT_DAYS


Days = Annotated[int, Depends(days_of)]


async def reverse_names_of(request: Request) -> ReverseNames:
    """The app's reverse DNS cache, its lookups on the app's event loop
    (an async dependency: it runs on the loop)."""
    state = request.app.state
    if not hasattr(state, "reverse_names"):  # not installed (a handler alone): no lookups
        state.reverse_names = ReverseNames(enabled=False)
    names: ReverseNames = state.reverse_names
    names.bind(asyncio.get_running_loop())
    return names


ReverseNamesDep = Annotated[ReverseNames, Depends(reverse_names_of)]


def _policy_domain(request: Request, domain: Annotated[str, Path()]) -> str:
    return decoded(request, domain)


# Any text: a policy domain as a report wrote it (even with "/"), any length.
DomainName = Annotated[str, Depends(_policy_domain)]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]  # a BIGINT key
# The `next_cursor` of a list's previous page (`tlsrpt.store.list_reads`).
Cursor = Annotated[str | None, Query(max_length=512)]
