"""`tlsrpt user add`, `tlsrpt token create`, `tlsrpt domain add` and the
account operations behind them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from tlsrpt.cli import main
from tlsrpt.store.accounts import api_tokens, users
from tlsrpt.store.engine import open_store
from tlsrpt.store.users import (
    authenticate,
    can_see,
    get_session,
    get_user,
    start_session,
    user_for_token,
    visible_domains,
)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'accounts.sqlite3'}"


def _add_user(monkeypatch: pytest.MonkeyPatch, db: str, email: str, *extra: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    return main(["user", "add", email, "--password-stdin", "--db", db, *extra])


def test_user_token_domain_round_trip(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _add_user(monkeypatch, db, "Admin@Example.NET", "--admin") == 0
    assert _add_user(monkeypatch, db, "customer@example.org") == 0
    capsys.readouterr()
    assert main(["token", "create", "customer@example.org", "--db", db]) == 0
    token = capsys.readouterr().out.strip()
    assert (
        main(["domain", "add", "Shop.Example.ORG.", "--owner", "customer@example.org", "--db", db])
        == 0
    )
    assert main(["domain", "add", "other.example", "--db", db]) == 0

    store = open_store(db)
    with store.read() as conn:
        # Only hashes are stored: neither the password nor the token appears.
        user_row = conn.execute(sa.select(users).where(users.c.email == "admin@example.net")).one()
        assert user_row.password_hash.startswith("$argon2id$")
        assert user_row.is_admin
        stored = conn.scalars(sa.select(api_tokens.c.token_sha256)).all()
        assert token not in stored and len(stored) == 1

        customer = user_for_token(conn, token)
        assert customer is not None and customer.email == "customer@example.org"
        assert not customer.is_admin
        assert user_for_token(conn, token + "x") is None
        assert visible_domains(conn, customer) == ["shop.example.org"]
        assert can_see(conn, customer, "shop.example.org")
        assert not can_see(conn, customer, "other.example")
        admin = get_user(conn, "ADMIN@example.net")
        assert admin is not None
        assert visible_domains(conn, admin) == ["other.example", "shop.example.org"]

        assert authenticate(conn, "customer@example.org", "correct horse battery") == customer
        assert authenticate(conn, "customer@example.org", "wrong password") is None
        assert authenticate(conn, "nobody@example.org", "correct horse battery") is None
    with store.write() as conn:
        cookie, session = start_session(conn, customer)
    with store.read() as conn:
        assert get_session(conn, cookie) == session
        assert get_session(conn, cookie + "x") is None
    store.close()


def test_account_commands_refuse_bad_input(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _add_user(monkeypatch, db, "a@example.org") == 0
    assert _add_user(monkeypatch, db, "A@example.org") == 2
    assert "already exists" in capsys.readouterr().err
    assert _add_user(monkeypatch, db, "not-an-address") == 2
    assert "not an e-mail address" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "b@example.org", "--password-stdin", "--db", db]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert main(["token", "create", "nobody@example.org", "--db", db]) == 2
    assert "no user nobody@example.org" in capsys.readouterr().err
    assert main(["domain", "add", "no_dots", "--db", db]) == 2
    assert "not a domain name" in capsys.readouterr().err
    assert main(["domain", "add", "example.org", "--owner", "nobody@example.org", "--db", db]) == 2
    assert "no user" in capsys.readouterr().err


def test_domain_add_is_idempotent(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _add_user(monkeypatch, db, "c@example.org") == 0
    capsys.readouterr()
    args = ["domain", "add", "example.org", "--owner", "c@example.org", "--db", db, "--json"]
    assert main(args) == 0
    assert '"changed":true' in capsys.readouterr().out
    assert main(args) == 0
    assert '"changed":false' in capsys.readouterr().out
