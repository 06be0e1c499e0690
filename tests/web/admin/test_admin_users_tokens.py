"""The admin console's users and API tokens, and a customer's own tokens:
each change is the one `tlsrpt user|token` makes (the same store
functions), seen from the database and from the API and login it affects."""

from __future__ import annotations

import logging
import re

import pytest
from tests.web.admin.conftest import ADMIN, CUSTOMER, PASSWORD, Browser

from tlsrpt.store.engine import Store
from tlsrpt.store.lifecycle import list_tokens, list_users
from tlsrpt.store.users import authenticate, get_user, issue_token

TOKEN = re.compile(r'data-field="token">(tlsrpt_[A-Za-z0-9_-]+)<')


def _api(browser: Browser, token: str) -> int:
    """The status of an API call with the token (the API reads no cookie)."""
    answer = browser.client.get("/api/v1/domains", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code


def test_add_a_user_and_refuse_a_duplicate(admin: Browser, people: Store) -> None:
    answer = admin.post("/admin/users", {"email": "New@Example.org", "password": "long enough pw"})
    assert answer.status_code == 303
    page = admin.client.get(answer.headers["location"]).text
    assert "new@example.org: added" in page
    assert 'data-user="new@example.org"' in page
    with people.read() as conn:
        assert authenticate(conn, "new@example.org", "long enough pw") is not None
    again = admin.post("/admin/users", {"email": "new@example.org", "password": "long enough pw"})
    assert again.status_code == 400
    assert "user new@example.org already exists" in again.text
    short = admin.post("/admin/users", {"email": "x@example.org", "password": "short"})
    assert short.status_code == 400 and "at least 8 characters" in short.text
    api_only = admin.post("/admin/users", {"email": "robot@example.org", "admin": "true"})
    assert api_only.status_code == 303
    with people.read() as conn:
        robot = get_user(conn, "robot@example.org")
        assert robot is not None and robot.is_admin


def test_disable_ends_sessions_and_enable_lets_back_in(
    admin: Browser, customer: Browser, people: Store, caplog: pytest.LogCaptureFixture
) -> None:
    assert customer.client.get("/").status_code == 200
    with caplog.at_level(logging.INFO, logger="tlsrpt.admin"):
        assert (
            admin.post("/admin/users/state", {"email": CUSTOMER, "to": "disabled"}).status_code
            == 303
        )
    assert f"user disabled by {ADMIN}: '{CUSTOMER}'" in caplog.text
    # The customer's session ended with it.
    assert customer.client.get("/", follow_redirects=False).status_code == 303
    with people.read() as conn:
        assert authenticate(conn, CUSTOMER, PASSWORD) is None
    answer = admin.post("/admin/users/state", {"email": CUSTOMER, "to": "disabled"})
    assert "unchanged" in admin.client.get(answer.headers["location"]).text
    assert admin.post("/admin/users/state", {"email": CUSTOMER, "to": "enabled"}).status_code == 303
    with people.read() as conn:
        assert authenticate(conn, CUSTOMER, PASSWORD) is not None


def test_make_and_unmake_admin(admin: Browser, customer: Browser, people: Store) -> None:
    assert customer.client.get("/admin/users").status_code == 403
    assert admin.post("/admin/users/role", {"email": CUSTOMER, "to": "admin"}).status_code == 303
    # From the next request on, the same session is an admin's.
    assert customer.client.get("/admin/users").status_code == 200
    assert admin.post("/admin/users/role", {"email": CUSTOMER, "to": "user"}).status_code == 303
    assert customer.client.get("/admin/users").status_code == 403
    with people.read() as conn:
        assert [u.admin for u in list_users(conn)] == [True, False]


def test_an_admin_cannot_lock_themself_out(admin: Browser, people: Store) -> None:
    for path, to in (("/admin/users/state", "disabled"), ("/admin/users/role", "user")):
        answer = admin.post(path, {"email": ADMIN.upper(), "to": to})
        assert answer.status_code == 400
        assert "your own account" in answer.text
    assert admin.client.get("/admin/users").status_code == 200


def test_reset_a_password(admin: Browser, customer: Browser, people: Store) -> None:
    answer = admin.post(
        "/admin/users/password", {"email": CUSTOMER, "password": "brand new secret"}
    )
    assert answer.status_code == 303
    assert customer.client.get("/", follow_redirects=False).status_code == 303  # session ended
    with people.read() as conn:
        assert authenticate(conn, CUSTOMER, PASSWORD) is None
        assert authenticate(conn, CUSTOMER, "brand new secret") is not None
    unknown = admin.post("/admin/users/password", {"email": "no@example.org", "password": "x" * 9})
    assert unknown.status_code == 400 and "no user no@example.org" in unknown.text


def test_admin_creates_lists_and_revokes_a_token(admin: Browser, people: Store) -> None:
    answer = admin.post("/admin/tokens", {"email": CUSTOMER, "expires": "30d"})
    assert answer.status_code == 200
    found = TOKEN.search(answer.text)
    assert found is not None
    token = found.group(1)
    assert _api(admin, token) == 200
    with people.read() as conn:
        (info,) = list_tokens(conn, CUSTOMER)
    assert info.state == "active" and info.expires_at is not None
    listing = admin.client.get("/admin/tokens").text
    assert f'data-token="{info.id}"' in listing
    assert token not in listing  # shown once
    answer = admin.post("/admin/tokens/revoke", {"token": str(info.id)})
    assert answer.status_code == 303
    assert f"Token {info.id}: revoked" in admin.client.get(answer.headers["location"]).text
    assert _api(admin, token) == 401
    bad = admin.post("/admin/tokens", {"email": CUSTOMER, "expires": "next week"})
    assert bad.status_code == 400 and "No token created: expected a duration" in bad.text
    past = admin.post("/admin/tokens", {"email": CUSTOMER, "expires": "2000-01-01"})
    assert past.status_code == 400 and "is not in the future" in past.text
    assert admin.post("/admin/tokens/revoke", {"token": "999"}).status_code == 404


def test_customers_manage_their_own_tokens_only(
    customer: Browser, admin: Browser, people: Store
) -> None:
    with people.write() as conn:
        theirs = issue_token(conn, ADMIN)
    answer = customer.post("/account/tokens", {"expires": ""})
    assert answer.status_code == 200 and "It does not expire." in answer.text
    found = TOKEN.search(answer.text)
    assert found is not None
    assert _api(admin, found.group(1)) == 200
    # The admin's token is neither listed nor revocable by the customer.
    page = customer.client.get("/account/tokens").text
    assert f'data-token="{theirs.id}"' not in page
    refused = customer.post("/account/tokens/revoke", {"token": str(theirs.id)})
    assert refused.status_code == 404
    assert _api(admin, theirs.token) == 200
    with people.read() as conn:
        (own,) = list_tokens(conn, CUSTOMER)
    assert customer.post("/account/tokens/revoke", {"token": str(own.id)}).status_code == 303
    assert _api(admin, found.group(1)) == 401
    # The customer's page has no field to make a token for someone else.
    assert 'name="email"' not in customer.client.get("/account/tokens").text
