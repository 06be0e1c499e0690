"""`tlsrpt user list|remove|disable|enable|passwd`, `tlsrpt token
create|list|revoke` and `tlsrpt domain list|remove|assign`: their output,
JSON shapes and exit statuses, and what they leave in the database."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from tlsrpt.cli import main
from tlsrpt.cli.output import UsageError
from tlsrpt.cli.token_ import parse_expiry
from tlsrpt.store.accounts import api_tokens, domain_owners, domains, users, web_sessions
from tlsrpt.store.engine import open_store
from tlsrpt.store.users import authenticate, get_session, get_user, start_session

PASSWORD = "correct horse battery"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lifecycle.sqlite3'}"


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str | None = None) -> Any:
    """(exit status, stdout, stderr) of one command."""
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        if stdin is not None:
            patch.setattr("sys.stdin", io.StringIO(stdin))
        try:
            status = main(list(argv))
        except SystemExit as exc:  # argparse refusing the arguments
            status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def js(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str | None = None) -> Any:
    status, out, err = run(capsys, *argv, "--json", stdin=stdin)
    assert status == 0, err
    return orjson.loads(out)


@pytest.fixture
def people(db: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """An admin and two customers; the first customer has two tokens and a domain."""
    for email, extra in (
        ("admin@example.com", ["--admin"]),
        ("a@c.example", []),
        ("b@c.example", []),
    ):
        js(
            capsys,
            "user",
            "add",
            email,
            "--password-stdin",
            "--db",
            db,
            *extra,
            stdin=PASSWORD + "\n",
        )
    first = js(capsys, "token", "create", "a@c.example", "--db", db)
    second = js(capsys, "token", "create", "a@c.example", "--expires", "30d", "--db", db)
    js(capsys, "domain", "add", "shop.example", "--owner", "a@c.example", "--db", db)
    return {"first": first, "second": second}


def test_token_create_json_and_list(
    db: str, capsys: pytest.CaptureFixture[str], people: Any
) -> None:
    first, second = people["first"], people["second"]
    assert set(first) == {"id", "email", "token", "expires_at"}
    assert first["email"] == "a@c.example" and first["token"].startswith("tlsrpt_")
    assert first["expires_at"] is None
    assert second["id"] == first["id"] + 1
    expires = datetime.fromisoformat(second["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)

    listed = js(capsys, "token", "list", "--db", db)["tokens"]
    assert [(t["id"], t["email"], t["state"]) for t in listed] == [
        (first["id"], "a@c.example", "active"),
        (second["id"], "a@c.example", "active"),
    ]
    assert set(listed[0]) == {"id", "email", "created_at", "expires_at", "revoked_at", "state"}
    assert all("token" not in t for t in listed)  # the text is never shown again
    assert js(capsys, "token", "list", "--user", "b@c.example", "--db", db) == {"tokens": []}
    status, out, _ = run(capsys, "token", "list", "--db", db)
    assert status == 0 and "a@c.example" in out and first["token"] not in out
    # Human output: the token alone on stdout (for $(...)), its id on stderr.
    status, out, err = run(capsys, "token", "create", "b@c.example", "--db", db)
    assert status == 0 and out.strip().startswith("tlsrpt_") and len(out.split()) == 1
    assert f"token {second['id'] + 1} for b@c.example" in err


def test_token_revoke(db: str, capsys: pytest.CaptureFixture[str], people: Any) -> None:
    first, second = people["first"], people["second"]
    assert js(capsys, "token", "revoke", str(first["id"]), "--db", db) == {
        "revoked": [first["id"]],
        "already_revoked": [],
    }
    again = js(capsys, "token", "revoke", str(first["id"]), str(second["id"]), "--db", db)
    assert again == {"revoked": [second["id"]], "already_revoked": [first["id"]]}
    states = [t["state"] for t in js(capsys, "token", "list", "--db", db)["tokens"]]
    assert states == ["revoked", "revoked"]
    status, _, err = run(capsys, "token", "revoke", "999", "--db", db)
    assert status == 2 and "no token 999" in err
    status, _, err = run(capsys, "token", "revoke", "--db", db)
    assert status == 2  # an id is required


def test_token_refusals(db: str, capsys: pytest.CaptureFixture[str], people: Any) -> None:
    for bad, message in (
        ("yesterday", "expected a duration"),
        ("2001-01-01", "is not in the future"),
        ("0d", "is not in the future"),
    ):
        status, _, err = run(capsys, "token", "create", "a@c.example", "--expires", bad, "--db", db)
        assert status == 2 and message in err, err
    status, _, err = run(capsys, "token", "create", "nobody@c.example", "--db", db)
    assert status == 2 and "no user nobody@c.example" in err
    status, _, err = run(capsys, "token", "list", "--user", "nobody@c.example", "--db", db)
    assert status == 2 and "no user" in err
    js(capsys, "user", "disable", "b@c.example", "--db", db)
    status, _, err = run(capsys, "token", "create", "b@c.example", "--db", db)
    assert status == 2 and "is disabled" in err


def test_parse_expiry() -> None:
    now = datetime(2026, 12, 1, 10, 0)
    assert parse_expiry("12h", now) == datetime(2026, 12, 1, 22, 0)
    assert parse_expiry("90d", now) == now + timedelta(days=90)
    assert parse_expiry("2w", now) == now + timedelta(weeks=2)
    assert parse_expiry("2027-01-31", now) == datetime(2027, 1, 31)
    assert parse_expiry("2027-01-31T12:00:00Z", now) == datetime(2027, 1, 31, 12)
    assert parse_expiry("2027-01-31T14:00:00+02:00", now) == datetime(2027, 1, 31, 12)
    with pytest.raises(UsageError):
        parse_expiry("3 days", now)


def test_user_list_and_disable(db: str, capsys: pytest.CaptureFixture[str], people: Any) -> None:
    listed = js(capsys, "user", "list", "--db", db)["users"]
    assert [
        (u["email"], u["admin"], u["disabled"], u["active_tokens"], u["domains"]) for u in listed
    ] == [
        ("a@c.example", False, False, 2, ["shop.example"]),
        ("admin@example.com", True, False, 0, []),
        ("b@c.example", False, False, 0, []),
    ]
    assert set(listed[0]) == {
        "id",
        "email",
        "admin",
        "disabled",
        "created_at",
        "disabled_at",
        "active_tokens",
        "domains",
    }
    store = open_store(db)
    with store.write() as conn:
        user = get_user(conn, "a@c.example")
        assert user is not None
        cookie, _ = start_session(conn, user)
    out = js(capsys, "user", "disable", "a@c.example", "--db", db)
    assert out == {"email": "a@c.example", "disabled": True, "changed": True, "sessions_ended": 1}
    with store.read() as conn:
        assert get_session(conn, cookie) is None
        assert authenticate(conn, "a@c.example", PASSWORD) is None  # login refused
    again = js(capsys, "user", "disable", "a@c.example", "--db", db)
    assert again["changed"] is False
    listed = js(capsys, "user", "list", "--db", db)["users"]
    assert listed[0]["disabled"] is True and listed[0]["disabled_at"]
    states = {t["state"] for t in js(capsys, "token", "list", "--db", db)["tokens"]}
    assert states == {"user-disabled"}
    status, out, _ = run(capsys, "user", "list", "--db", db)
    assert status == 0 and "disabled" in out

    out = js(capsys, "user", "enable", "a@c.example", "--db", db)
    assert out == {"email": "a@c.example", "disabled": False, "changed": True, "sessions_ended": 0}
    with store.read() as conn:
        assert authenticate(conn, "a@c.example", PASSWORD) is not None
    store.close()
    status, _, err = run(capsys, "user", "disable", "nobody@c.example", "--db", db)
    assert status == 2 and "no user nobody@c.example" in err


def test_user_passwd(db: str, capsys: pytest.CaptureFixture[str], people: Any) -> None:
    store = open_store(db)
    with store.write() as conn:
        user = get_user(conn, "b@c.example")
        assert user is not None
        cookie, _ = start_session(conn, user)
    out = js(
        capsys,
        "user",
        "passwd",
        "B@c.example",
        "--password-stdin",
        "--db",
        db,
        stdin="a new secret\n",
    )
    assert out == {"email": "b@c.example", "sessions_ended": 1}
    with store.read() as conn:
        assert get_session(conn, cookie) is None
        assert authenticate(conn, "b@c.example", PASSWORD) is None
        assert authenticate(conn, "b@c.example", "a new secret") is not None
    store.close()
    status, _, err = run(
        capsys, "user", "passwd", "b@c.example", "--password-stdin", "--db", db, stdin="short\n"
    )
    assert status == 2 and "at least 8 characters" in err


def test_user_remove_cleans_up(db: str, capsys: pytest.CaptureFixture[str], people: Any) -> None:
    store = open_store(db)
    with store.write() as conn:
        user = get_user(conn, "a@c.example")
        assert user is not None
        start_session(conn, user)
    out = js(capsys, "user", "remove", "a@c.example", "--db", db)
    assert out == {
        "email": "a@c.example",
        "removed": True,
        "tokens": 2,
        "sessions": 1,
        "domains": ["shop.example"],
    }
    with store.read() as conn:
        assert (
            conn.scalar(sa.select(sa.func.count()).select_from(users).where(users.c.id == user.id))
            == 0
        )
        for table in (api_tokens, web_sessions, domain_owners):
            count = sa.select(sa.func.count()).select_from(table).where(table.c.user_id == user.id)
            assert conn.scalar(count) == 0, table.name
        assert conn.scalars(sa.select(domains.c.domain)).all() == [
            "shop.example"
        ]  # stays registered
    store.close()
    status, _, err = run(capsys, "user", "remove", "a@c.example", "--db", db)
    assert status == 2 and "no user a@c.example" in err
    status, out, _ = run(capsys, "user", "remove", "b@c.example", "--db", db)
    assert status == 0 and "removed b@c.example (0 tokens, 0 sessions)" in out


def test_domain_list_remove_assign(
    db: str, capsys: pytest.CaptureFixture[str], people: Any
) -> None:
    js(capsys, "domain", "add", "other.example", "--db", db)
    listed = js(capsys, "domain", "list", "--db", db)["domains"]
    assert [(d["domain"], d["owners"]) for d in listed] == [
        ("other.example", []),
        ("shop.example", ["a@c.example"]),
    ]
    assert set(listed[0]) == {"domain", "owners", "created_at"}

    out = js(capsys, "domain", "assign", "Shop.Example.", "b@c.example", "--db", db)
    assert out == {"domain": "shop.example", "owners": ["b@c.example"], "changed": True}
    out = js(capsys, "domain", "assign", "shop.example", "b@c.example", "--db", db)
    assert out["changed"] is False
    out = js(capsys, "domain", "assign", "shop.example", "a@c.example", "b@c.example", "--db", db)
    assert out == {
        "domain": "shop.example",
        "owners": ["a@c.example", "b@c.example"],
        "changed": True,
    }
    out = js(capsys, "domain", "assign", "new.example", "a@c.example", "--db", db)
    assert out == {
        "domain": "new.example",
        "owners": ["a@c.example"],
        "changed": True,
    }  # registered
    out = js(capsys, "domain", "remove", "shop.example", "--owner", "a@c.example", "--db", db)
    assert out == {"domain": "shop.example", "owner": "a@c.example", "changed": True}
    out = js(capsys, "domain", "remove", "shop.example", "--owner", "a@c.example", "--db", db)
    assert out["changed"] is False
    out = js(capsys, "domain", "assign", "shop.example", "--none", "--db", db)
    assert out == {"domain": "shop.example", "owners": [], "changed": True}
    assert js(capsys, "domain", "remove", "new.example", "--db", db) == {
        "domain": "new.example",
        "owner": None,
        "changed": True,
    }
    assert js(capsys, "domain", "remove", "new.example", "--db", db)["changed"] is False
    listed = js(capsys, "domain", "list", "--db", db)["domains"]
    assert [d["domain"] for d in listed] == ["other.example", "shop.example"]
    assert js(capsys, "user", "list", "--db", db)["users"][0]["domains"] == []

    status, _, err = run(capsys, "domain", "assign", "shop.example", "--db", db)
    assert status == 2 and "or --none" in err
    status, _, err = run(
        capsys, "domain", "assign", "shop.example", "x@c.example", "--none", "--db", db
    )
    assert status == 2
    status, _, err = run(capsys, "domain", "assign", "shop.example", "nobody@c.example", "--db", db)
    assert status == 2 and "no user nobody@c.example" in err
    status, _, err = run(capsys, "domain", "remove", "not_a_domain", "--db", db)
    assert status == 2 and "not a domain name" in err
    status, out, _ = run(capsys, "domain", "list", "--db", db)
    assert status == 0 and "other.example" in out and "(admins only)" in out


def test_empty_lists(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "db", "upgrade", "--db", db)[0] == 0  # listing never creates one
    assert js(capsys, "user", "list", "--db", db) == {"users": []}
    assert js(capsys, "token", "list", "--db", db) == {"tokens": []}
    assert js(capsys, "domain", "list", "--db", db) == {"domains": []}
    status, out, _ = run(capsys, "user", "list", "--db", db)
    assert status == 0 and "tlsrpt user add EMAIL --admin" in out
