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

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tlsrpt.mtasts import PolicyError
from tlsrpt.rollout_steps import promote, rollback
from tlsrpt.store import reads
from tlsrpt.store.engine import Store
from tlsrpt.web.dashboard import auth
from tlsrpt.web.segments import segment

Page = Callable[..., HTMLResponse]
Field = Annotated[str, Form(max_length=253)]
Token = Annotated[str, Form(max_length=128)]


def add_rollout_routes(router: APIRouter, page: Page, not_found: Page) -> None:
    def step(request: Request, domain: str, csrf: str, promoting: bool, confirm: bool) -> Response:
        store: Store = request.app.state.store
        session = auth.require_session(request, store)
        if not session.user.is_admin or not auth.check_csrf(session.csrf_token, csrf):
            return page(request, "forbidden.html", 403, session=session)
        back = RedirectResponse(f"/domains/{segment(domain)}#rollout", status_code=303)
        if not confirm:
            return back
        who = f"dashboard: {session.user.email}"
        now = datetime.now(UTC)
        with store.write() as conn:
            history = reads.hosted_history(conn, domain)
            if not history:
                return not_found(request, session, f"hosted policy of {domain}")
            try:
                if promoting:
                    promote(conn, history, now, who)
                else:
                    rollback(conn, history, now, who)
            except PolicyError as exc:  # a version that cannot be made: nothing stored
                title = "The step cannot be taken"
                return page(
                    request, "error.html", 409, session=session, title=title, detail=str(exc)
                )
        return back

    @router.post("/rollout/promote")
    def promote_domain(request: Request, domain: Field, csrf: Token = "") -> Response:
        return step(request, domain, csrf, True, True)

    @router.post("/rollout/rollback")
    def rollback_domain(
        request: Request, domain: Field, csrf: Token = "", confirm: Token = ""
    ) -> Response:
        return step(request, domain, csrf, False, confirm == "yes")
