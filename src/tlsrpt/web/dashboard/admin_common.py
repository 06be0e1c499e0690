"""What the admin console's pages share: who may use them, the CSRF check
of every form, rendering, and the log line each change leaves.

An admin page needs an admin's session (anyone else gets the 403 page);
a customer's own pages (their API tokens) need any session. Every POST
carries the session's CSRF token (`auth.check_csrf`), and is refused with
the 403 page without it. Changes answer with a redirect to the page they
came from (a reload does not repeat them) carrying a fixed notice code,
never free text: the only exceptions are a new token (shown once, so on
the answer itself) and an import (its per-line summary).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tlsrpt.store.engine import Store
from tlsrpt.store.users import Session
from tlsrpt.web.dashboard import auth
from tlsrpt.web.dashboard.render import templates as _templates

log = logging.getLogger("tlsrpt.admin")


class Refused(Exception):
    """Not an admin, or the form's CSRF token is missing or wrong: the 403 page."""

    def __init__(self, session: Session) -> None:
        super().__init__("refused")
        self.session = session


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _signed_in(request: Request) -> Session:
    return auth.require_session(request, store_of(request))


def _admin(request: Request) -> Session:
    session = _signed_in(request)
    if not session.user.is_admin:
        raise Refused(session)
    return session


def _checked(session: Session, csrf: str) -> Session:
    if not auth.check_csrf(session.csrf_token, csrf):
        raise Refused(session)
    return session


CsrfField = Annotated[str, Form(max_length=128)]


def _admin_form(request: Request, csrf: CsrfField = "") -> Session:
    return _checked(_admin(request), csrf)


def _user_form(request: Request, csrf: CsrfField = "") -> Session:
    return _checked(_signed_in(request), csrf)


# Dependencies of the handlers: an admin viewing, an admin posting a form,
# anyone signed in viewing, anyone signed in posting a form.
Admin = Annotated[Session, Depends(_admin)]
AdminForm = Annotated[Session, Depends(_admin_form)]
SignedIn = Annotated[Session, Depends(_signed_in)]
UserForm = Annotated[Session, Depends(_user_form)]
EmailField = Annotated[str, Form(max_length=320)]
DomainField = Annotated[str, Form(max_length=253)]
PasswordField = Annotated[str, Form(max_length=1024)]


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return _templates().TemplateResponse(request, name, context, status_code=status)


def refused_page(request: Request, exc: Exception) -> HTMLResponse:
    session = exc.session if isinstance(exc, Refused) else None
    return render(request, "forbidden.html", 403, session=session)


def done(path: str, notice: str, subject: str = "", **query: str) -> RedirectResponse:
    """Back to `path` (ours), showing the notice `notice` (a code the page
    turns into a fixed sentence) about `subject`."""
    params = {**query, "notice": notice, "subject": subject}
    return RedirectResponse(f"{path}?{urlencode(params)}", status_code=303)


def audit(session: Session, action: str, target: str) -> None:
    """One log line per change: who did what to what (quoted: the target
    is form input)."""
    log.info("%s by %s: %r", action, session.user.email, target)
