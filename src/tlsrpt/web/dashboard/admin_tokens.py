"""API tokens in the dashboard: an admin's view of every token
(/admin/tokens) and each user's own (/account/tokens, customers
included). Both list tokens with their state (never their text: only its
hash is stored), create one with an expiry (the same syntax as `tlsrpt
token create --expires`) and revoke one. A new token is shown once, on the
answer to the form that made it. On their own page a user can only revoke
their own tokens: another user's is refused like an unknown one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from tlsrpt.store.lifecycle import list_tokens, list_users, revoke_tokens
from tlsrpt.store.users import (
    AccountError,
    IssuedToken,
    Session,
    issue_token,
    parse_expiry,
    utc_now,
)
from tlsrpt.web.dashboard.admin_common import (
    Admin,
    AdminForm,
    EmailField,
    SignedIn,
    UserForm,
    audit,
    done,
    render,
    store_of,
)

ADMIN_PATH = "/admin/tokens"
OWN_PATH = "/account/tokens"
DEFAULT_EXPIRY = "90d"
router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Notice = Annotated[str, Query(max_length=32)]
Subject = Annotated[str, Query(max_length=64)]
ExpiresField = Annotated[str, Form(max_length=64)]
TokenId = Annotated[int, Form(ge=1, le=2**63 - 1)]


def _page(
    request: Request,
    session: Session,
    own: bool,
    status: int = 200,
    *,
    issued: IssuedToken | None = None,
    error: str | None = None,
    notice: str = "",
    subject: str = "",
) -> HTMLResponse:
    with store_of(request).read() as conn:
        tokens = list_tokens(conn, session.user.email if own else None)
        emails = [] if own else [u.email for u in list_users(conn) if u.disabled_at is None]
    return render(
        request,
        "admin_tokens.html",
        status,
        session=session,
        own=own,
        current=OWN_PATH if own else ADMIN_PATH,
        tokens=tokens,
        emails=emails,
        issued=issued,
        error=error,
        notice=notice,
        subject=subject,
        default_expiry=DEFAULT_EXPIRY,
    )


def _create(request: Request, session: Session, own: bool, email: str, expires: str) -> Response:
    try:
        when = parse_expiry(expires, utc_now()) if expires.strip() else None
        with store_of(request).write() as conn:
            issued = issue_token(conn, email, when)
    except AccountError as exc:
        return _page(request, session, own, 400, error=f"No token created: {exc}")
    audit(session, f"token {issued.id} created", issued.email)
    return _page(request, session, own, issued=issued)


def _revoke(request: Request, session: Session, own: bool, token_id: int) -> Response:
    try:
        with store_of(request).write() as conn:
            revoked, _ = revoke_tokens(conn, [token_id], session.user.email if own else None)
    except AccountError:
        mine = " of yours" if own else ""
        return _page(request, session, own, 404, error=f"There is no token {token_id}{mine}.")
    if revoked:
        audit(session, "token revoked", str(token_id))
    path = OWN_PATH if own else ADMIN_PATH
    return done(path, "revoked" if revoked else "unchanged", f"Token {token_id}")


@router.get(ADMIN_PATH)
def all_tokens(
    request: Request, session: Admin, notice: Notice = "", subject: Subject = ""
) -> HTMLResponse:
    return _page(request, session, False, notice=notice, subject=subject)


@router.post(ADMIN_PATH)
def create_for_user(
    request: Request, session: AdminForm, email: EmailField, expires: ExpiresField = ""
) -> Response:
    return _create(request, session, False, email, expires)


@router.post(f"{ADMIN_PATH}/revoke")
def revoke_any(request: Request, session: AdminForm, token: TokenId) -> Response:
    return _revoke(request, session, False, token)


@router.get(OWN_PATH)
def own_tokens(
    request: Request, session: SignedIn, notice: Notice = "", subject: Subject = ""
) -> HTMLResponse:
    return _page(request, session, True, notice=notice, subject=subject)


@router.post(OWN_PATH)
def create_own(request: Request, session: UserForm, expires: ExpiresField = "") -> Response:
    return _create(request, session, True, session.user.email, expires)


@router.post(f"{OWN_PATH}/revoke")
def revoke_own(request: Request, session: UserForm, token: TokenId) -> Response:
    return _revoke(request, session, True, token)
