"""What the admin console's pages share: who may use them and the CSRF
check of every form (over the dashboard's `deps`), the form fields, the
redirect after a change and the log line each change leaves.

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
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Form
from fastapi.responses import RedirectResponse

from tlsrpt.store.users import Session
from tlsrpt.web.dashboard.deps import AdminDep, SessionDep, require_csrf, store_of
from tlsrpt.web.dashboard.render import page as render

log = logging.getLogger("tlsrpt.admin")

__all__ = [
    "Admin",
    "AdminForm",
    "DomainField",
    "EmailField",
    "PasswordField",
    "SignedIn",
    "UserForm",
    "audit",
    "done",
    "render",
    "store_of",
]


CsrfField = Annotated[str, Form(max_length=128)]


def _admin_form(session: AdminDep, csrf: CsrfField = "") -> Session:
    require_csrf(session, csrf)
    return session


def _user_form(session: SessionDep, csrf: CsrfField = "") -> Session:
    require_csrf(session, csrf)
    return session


# Dependencies of the handlers: an admin viewing, an admin posting a form,
# anyone signed in viewing, anyone signed in posting a form.
Admin = AdminDep
AdminForm = Annotated[Session, Depends(_admin_form)]
SignedIn = SessionDep
UserForm = Annotated[Session, Depends(_user_form)]
EmailField = Annotated[str, Form(max_length=320)]
DomainField = Annotated[str, Form(max_length=253)]
PasswordField = Annotated[str, Form(max_length=1024)]


def done(path: str, notice: str, subject: str = "", **query: str) -> RedirectResponse:
    """Back to `path` (ours), showing the notice `notice` (a code the page
    turns into a fixed sentence) about `subject`."""
    params = {**query, "notice": notice, "subject": subject}
    return RedirectResponse(f"{path}?{urlencode(params)}", status_code=303)


def audit(session: Session, action: str, target: str) -> None:
    """One log line per change: who did what to what (quoted: the target
    is form input)."""
    log.info("%s by %s: %r", action, session.user.email, target)
