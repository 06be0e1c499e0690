"""The rollout buttons of the domain page (admins only): POST
/rollout/promote and POST /rollout/rollback, each a form with the
session's CSRF token and the domain (403 without the token or for a
user who is not an admin; 404 for a domain not hosted here). They take the
same steps as `tlsrpt mta-sts promote|rollback` (`tlsrpt.rollout_steps`):
a promotion the reports do not allow is refused exactly as there (no
force from the web), and a rollback needs its confirmation box ticked.
Both answer with a redirect to the domain page, which shows the outcome.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from tlsrpt.mtasts import PolicyError
from tlsrpt.rollout_steps import promote, rollback
from tlsrpt.store import reads
from tlsrpt.store.engine import Store
from tlsrpt.store.users import Session
from tlsrpt.web.dashboard.deps import AdminDep, StoreDep, require_csrf
from tlsrpt.web.dashboard.render import NotFound, page
from tlsrpt.web.segments import segment

Field = Annotated[str, Form(max_length=253)]
Token = Annotated[str, Form(max_length=128)]


def _step(
    request: Request, store: Store, session: Session, domain: str, promoting: bool
) -> Response:
    who = f"dashboard: {session.user.email}"
    now = datetime.now(UTC)
    with store.write() as conn:
        history = reads.hosted_history(conn, domain)
        if not history:
            raise NotFound(session, f"hosted policy of {domain}")
        try:
            if promoting:
                promote(conn, history, now, who)
            else:
                rollback(conn, history, now, who)
        except PolicyError as exc:  # a version that cannot be made: nothing stored
            title = "The step cannot be taken"
            return page(request, "error.html", 409, session=session, title=title, detail=str(exc))
    return RedirectResponse(f"/domains/{segment(domain)}#rollout", status_code=303)


def promote_domain(
    request: Request, store: StoreDep, session: AdminDep, domain: Field, csrf: Token = ""
) -> Response:
    require_csrf(session, csrf)
    return _step(request, store, session, domain, promoting=True)


def rollback_domain(
    request: Request,
    store: StoreDep,
    session: AdminDep,
    domain: Field,
    csrf: Token = "",
    confirm: Token = "",
) -> Response:
    require_csrf(session, csrf)
    if confirm != "yes":
        return RedirectResponse(f"/domains/{segment(domain)}#rollout", status_code=303)
    return _step(request, store, session, domain, promoting=False)
