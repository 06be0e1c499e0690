"""Who may use the admin console: admins only, every form with the
session's CSRF token, every POST refused without it (and nothing changes)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from tests.web.admin.conftest import ADMIN, CUSTOMER, Browser

from tlsrpt.store.accounts import api_tokens, domain_owners, domains, users
from tlsrpt.store.engine import Store
from tlsrpt.store.users import add_domain, issue_token

ADMIN_PAGES = [
    "/admin/users",
    "/admin/tokens",
    "/admin/domains",
    "/admin/domains/import",
    "/admin/owners",
]
# Every form the console has, with fields that would change something.
POSTS = [
    ("/admin/users", {"email": "new@example.org", "password": "long enough pw"}),
    ("/admin/users/state", {"email": CUSTOMER, "to": "disabled"}),
    ("/admin/users/role", {"email": CUSTOMER, "to": "admin"}),
    ("/admin/users/password", {"email": CUSTOMER, "password": "another long one"}),
    ("/admin/tokens", {"email": CUSTOMER, "expires": "30d"}),
    ("/admin/tokens/revoke", {"token": "1"}),
    ("/admin/domains", {"domain": "new.example", "owner": CUSTOMER}),
    ("/admin/domains/remove", {"domain": "owned.example"}),
    ("/admin/domains/assign", {"domain": "owned.example", "owner": ADMIN}),
    ("/admin/domains/unassign", {"domain": "owned.example", "owner": CUSTOMER, "back": "owners"}),
    ("/admin/domains/import", {"domains": "imported.example\n"}),
]
OWN_POSTS = [("/account/tokens", {"expires": "30d"}), ("/account/tokens/revoke", {"token": "1"})]


def _state(store: Store) -> list[object]:
    with store.read() as conn:
        return [
            sorted(map(tuple, conn.execute(sa.select(t)).all()), key=repr)
            for t in (users, api_tokens, domains, domain_owners)
        ]


@pytest.fixture
def owned(people: Store) -> Store:
    with people.write() as conn:
        add_domain(conn, "owned.example", CUSTOMER)
        issue_token(conn, CUSTOMER)
        issue_token(conn, ADMIN)
    return people


class Forms(HTMLParser):
    """Each POST form's action and whether it holds a hidden csrf field."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[list[object]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self.forms.append([a.get("action"), False])
        if tag == "input" and a.get("name") == "csrf" and a.get("type") == "hidden" and self.forms:
            self.forms[-1][1] = bool(a.get("value"))


def test_every_post_form_carries_the_csrf_token(admin: Browser, owned: Store) -> None:
    seen = set()
    for path in [*ADMIN_PAGES, "/account/tokens"]:
        parser = Forms()
        parser.feed(admin.client.get(path).text)
        assert parser.forms, path
        for action, has_csrf in parser.forms:
            assert has_csrf, f"{path}: form {action} has no CSRF token"
            seen.add(action)
    wanted = {p for p, _ in POSTS + OWN_POSTS} | {"/logout"}
    assert wanted <= seen


@pytest.mark.parametrize("token", ["", "wrong"])
def test_a_post_without_the_csrf_token_changes_nothing(
    admin: Browser, owned: Store, token: str
) -> None:
    before = _state(owned)
    for path, data in POSTS + OWN_POSTS:
        answer = admin.client.post(path, data={**data, "csrf": token}, follow_redirects=False)
        assert answer.status_code == 403, path
        assert "Not allowed" in answer.text
    assert _state(owned) == before


def test_customers_and_strangers_are_kept_out(customer: Browser, owned: Store) -> None:
    before = _state(owned)
    for path in ADMIN_PAGES:
        answer = customer.client.get(path)
        assert answer.status_code == 403, path
    for path, data in POSTS:  # with the customer's own, valid, CSRF token
        assert customer.post(path, data).status_code == 403, path
    assert _state(owned) == before
    page = customer.client.get("/").text
    assert 'href="/account/tokens"' in page and 'href="/admin/users"' not in page
    customer.client.cookies.clear()
    for path in [*ADMIN_PAGES, "/account/tokens"]:
        answer = customer.client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert re.match(r"/login\?next=", answer.headers["location"])


def test_the_admin_link_is_for_admins(admin: Browser) -> None:
    assert 'href="/admin/users"' in admin.client.get("/").text
