"""Dashboard logins: a server-side session (`tlsrpt.store.users`) named by
an HttpOnly, SameSite=Strict cookie, Secure whenever the request came over
HTTPS; CSRF tokens on every form (per session, and a double-submit cookie
for the login form itself, which has no session yet)."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from tlsrpt.store.engine import Store
from tlsrpt.store.users import SESSION_LIFETIME, Session, get_session

SESSION_COOKIE = "tlsrpt_session"
LOGIN_CSRF_COOKIE = "tlsrpt_login_csrf"


class LoginRequired(Exception):
    """Raised by a page that needs a session; answered by a redirect to /login."""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def set_session_cookie(request: Request, response: Response, cookie: str) -> None:
    set_cookie(request, response, SESSION_COOKIE, cookie, int(SESSION_LIFETIME.total_seconds()))


def current_session(request: Request, store: Store) -> Session | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with store.read() as conn:
        return get_session(conn, cookie)


def require_session(request: Request, store: Store) -> Session:
    session = current_session(request, store)
    if session is None:
        raise LoginRequired
    return session


def check_csrf(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and secrets.compare_digest(expected or "", given or "")


def safe_next(target: str | None) -> str:
    """Only a path on this site ("/..." but not "//host" or "/\\host")."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
