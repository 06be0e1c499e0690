"""Admin console: users. GET /admin/users lists them (role, state, usable
tokens, domains); the forms add a user, disable or enable one, make one an
admin or take it away, and set a new password (which ends their
sessions). The same store functions as `tlsrpt user` do the work. An
admin cannot disable themself or take their own admin role (they would
lock themself out of this page)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from tlsrpt.store.lifecycle import list_users, set_admin, set_disabled, set_password
from tlsrpt.store.users import AccountError, Session, add_user, normalize_email
from tlsrpt.web.dashboard.admin_common import (
    Admin,
    AdminForm,
    EmailField,
    PasswordField,
    audit,
    done,
    render,
    store_of,
)

PATH = "/admin/users"
router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Notice = Annotated[str, Query(max_length=32)]
Subject = Annotated[str, Query(max_length=320)]


def _page(
    request: Request, session: Session, status: int = 200, error: str | None = None, **extra: str
) -> HTMLResponse:
    with store_of(request).read() as conn:
        users = list_users(conn)
    return render(
        request,
        "admin_users.html",
        status,
        session=session,
        current=PATH,
        users=users,
        error=error,
        notice=extra.get("notice", ""),
        subject=extra.get("subject", ""),
        form_email=extra.get("form_email", ""),
    )


@router.get(PATH)
def users_page(
    request: Request, session: Admin, notice: Notice = "", subject: Subject = ""
) -> HTMLResponse:
    return _page(request, session, notice=notice, subject=subject)


@router.post(PATH)
def add(
    request: Request,
    session: AdminForm,
    email: EmailField,
    password: PasswordField = "",
    admin: Annotated[bool, Form()] = False,
) -> Response:
    try:
        with store_of(request).write() as conn:
            user = add_user(conn, email, password or None, admin=admin)
    except AccountError as exc:
        return _page(request, session, 400, str(exc), form_email=email)
    audit(session, "user added" + (" (admin)" if admin else ""), user.email)
    return done(PATH, "added", user.email)


def _not_self(session: Session, email: str) -> None:
    try:
        same = normalize_email(email) == session.user.email
    except AccountError:
        return  # the store function names the problem
    if same:
        raise AccountError("you cannot do this to your own account (ask another admin)")


@router.post(f"{PATH}/state")
def state(
    request: Request,
    session: AdminForm,
    email: EmailField,
    to: Annotated[Literal["disabled", "enabled"], Form()],
) -> Response:
    try:
        if to == "disabled":
            _not_self(session, email)
        with store_of(request).write() as conn:
            name, changed, _ = set_disabled(conn, email, to == "disabled")
    except AccountError as exc:
        return _page(request, session, 400, str(exc))
    if changed:
        audit(session, f"user {to}", name)
    return done(PATH, to if changed else "unchanged", name)


@router.post(f"{PATH}/role")
def role(
    request: Request,
    session: AdminForm,
    email: EmailField,
    to: Annotated[Literal["admin", "user"], Form()],
) -> Response:
    try:
        if to == "user":
            _not_self(session, email)
        with store_of(request).write() as conn:
            name, changed = set_admin(conn, email, to == "admin")
    except AccountError as exc:
        return _page(request, session, 400, str(exc))
    if changed:
        audit(session, f"user made {to}", name)
    return done(PATH, to if changed else "unchanged", name)


@router.post(f"{PATH}/password")
def password(
    request: Request, session: AdminForm, email: EmailField, password: PasswordField
) -> Response:
    try:
        with store_of(request).write() as conn:
            name, _ = set_password(conn, email, password)
    except AccountError as exc:
        return _page(request, session, 400, str(exc))
    audit(session, "password set", name)
    return done(PATH, "password", name)
