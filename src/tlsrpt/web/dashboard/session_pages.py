"""Logging in and out: GET and POST /login (a double-submit CSRF cookie,
as there is no session yet), POST /logout (the session's CSRF token)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tlsrpt.store.users import authenticate, end_session, start_session
from tlsrpt.web.dashboard import auth
from tlsrpt.web.dashboard.deps import SessionDep, StoreDep, require_csrf
from tlsrpt.web.dashboard.render import page

Csrf = Annotated[str, Form(max_length=128)]


def login_form(request: Request, next: str = "/") -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    answer = page(request, "login.html", session=None, csrf=token, next=auth.safe_next(next))
    auth.set_cookie(request, answer, auth.LOGIN_CSRF_COOKIE, token, 3600)
    return answer


def _form_again(
    request: Request, status: int, csrf: str, next: str, error: str, email: str = ""
) -> HTMLResponse:
    return page(
        request, "login.html", status, session=None, csrf=csrf, next=next, error=error, email=email
    )


def login(
    request: Request,
    store: StoreDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Csrf = "",
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    target = auth.safe_next(next)
    cookie_token = request.cookies.get(auth.LOGIN_CSRF_COOKIE)
    if not auth.check_csrf(cookie_token, csrf):
        return _form_again(
            request, 403, cookie_token or "", target, "The form expired; please try again."
        )
    with store.read() as conn:
        user = authenticate(conn, email, password)
    if user is None:
        return _form_again(request, 401, csrf, target, "Wrong e-mail address or password.", email)
    with store.write() as conn:
        cookie, _ = start_session(conn, user)
    answer = RedirectResponse(target, status_code=303)
    auth.set_session_cookie(request, answer, cookie)
    answer.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/")
    return answer


def logout(request: Request, store: StoreDep, session: SessionDep, csrf: Csrf = "") -> Response:
    require_csrf(session, csrf)
    with store.write() as conn:
        end_session(conn, request.cookies[auth.SESSION_COOKIE])
    answer = RedirectResponse("/login", status_code=303)
    answer.delete_cookie(auth.SESSION_COOKIE, path="/")
    return answer
