"""Admin console: registered domains and who owns them. GET /admin/domains
lists them a page at a time (searchable by part of the name); the forms
register a domain (optionally for an owner), remove one, give one to an
owner and take it from one. GET /admin/owners groups the domains per
customer. The same store functions as `tlsrpt domain` do the work; the
bulk import is in `admin_import`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from tlsrpt.store.lifecycle import count_domains, list_domains, list_users, remove_domain
from tlsrpt.store.users import AccountError, Session, add_domain
from tlsrpt.web.dashboard.admin_common import (
    Admin,
    AdminForm,
    DomainField,
    EmailField,
    audit,
    done,
    render,
    store_of,
)

PATH = "/admin/domains"
OWNERS_PATH = "/admin/owners"
PAGE_SIZE = 100
router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Search = Annotated[str, Query(max_length=253)]
PageNumber = Annotated[int, Query(alias="page", ge=1, le=10**6)]
Notice = Annotated[str, Query(max_length=32)]
Subject = Annotated[str, Query(max_length=320)]
Back = Annotated[Literal["domains", "owners"], Form()]


def _customers(request: Request) -> list[str]:
    with store_of(request).read() as conn:
        return [u.email for u in list_users(conn) if not u.admin and u.disabled_at is None]


def _page(
    request: Request,
    session: Session,
    status: int = 200,
    *,
    q: str = "",
    number: int = 1,
    error: str | None = None,
    notice: str = "",
    subject: str = "",
) -> HTMLResponse:
    q = q.strip()
    with store_of(request).read() as conn:
        total = count_domains(conn, q)
        pages = max(1, -(-total // PAGE_SIZE))
        number = min(number, pages)
        rows = list_domains(conn, q, PAGE_SIZE, (number - 1) * PAGE_SIZE)
    return render(
        request,
        "admin_domains.html",
        status,
        session=session,
        current=PATH,
        rows=rows,
        total=total,
        q=q,
        page_number=number,
        pages=pages,
        customers=_customers(request),
        error=error,
        notice=notice,
        subject=subject,
    )


@router.get(PATH)
def domains_page(
    request: Request,
    session: Admin,
    q: Search = "",
    number: PageNumber = 1,
    notice: Notice = "",
    subject: Subject = "",
) -> HTMLResponse:
    return _page(request, session, q=q, number=number, notice=notice, subject=subject)


def _back(back: str, name: str, notice: str) -> Response:
    if back == "owners":
        return done(OWNERS_PATH, notice, name)
    return done(PATH, notice, name, q=name)


@router.post(PATH)
def add(
    request: Request, session: AdminForm, domain: DomainField, owner: EmailField = ""
) -> Response:
    try:
        with store_of(request).write() as conn:
            name, changed = add_domain(conn, domain, owner.strip() or None)
    except AccountError as exc:
        return _page(request, session, 400, error=str(exc))
    if changed:
        audit(session, "domain added" + (f" for {owner.strip()}" if owner.strip() else ""), name)
    return _back("domains", name, "added" if changed else "unchanged")


@router.post(f"{PATH}/remove")
def remove(request: Request, session: AdminForm, domain: DomainField) -> Response:
    try:
        with store_of(request).write() as conn:
            name, changed = remove_domain(conn, domain)
    except AccountError as exc:
        return _page(request, session, 400, error=str(exc))
    if changed:
        audit(session, "domain removed", name)
    return _back("domains", name, "removed" if changed else "unchanged")


@router.post(f"{PATH}/assign")
def assign(
    request: Request, session: AdminForm, domain: DomainField, owner: EmailField
) -> Response:
    try:
        with store_of(request).write() as conn:
            name, changed = add_domain(conn, domain, owner)
    except AccountError as exc:
        return _page(request, session, 400, error=str(exc))
    if changed:
        audit(session, f"domain assigned to {owner.strip()}", name)
    return _back("domains", name, "assigned" if changed else "unchanged")


@router.post(f"{PATH}/unassign")
def unassign(
    request: Request, session: AdminForm, domain: DomainField, owner: EmailField, back: Back
) -> Response:
    try:
        with store_of(request).write() as conn:
            name, changed = remove_domain(conn, domain, owner)
    except AccountError as exc:
        return _page(request, session, 400, error=str(exc))
    if changed:
        audit(session, f"domain taken from {owner.strip()}", name)
    return _back(back, name, "unassigned" if changed else "unchanged")


@router.get(OWNERS_PATH)
def owners_page(
    request: Request, session: Admin, notice: Notice = "", subject: Subject = ""
) -> HTMLResponse:
    with store_of(request).read() as conn:
        customers = [u for u in list_users(conn) if not u.admin]
        total = count_domains(conn)
    owned = {d for u in customers for d in u.domains}
    return render(
        request,
        "admin_owners.html",
        session=session,
        current=OWNERS_PATH,
        customers=customers,
        total=total,
        unowned=total - len(owned),
        notice=notice,
        subject=subject,
    )
