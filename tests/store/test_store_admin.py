"""The store functions behind the admin console, on SQLite and PostgreSQL:
the bulk domain import, making and unmaking admins, revoking one user's
own tokens, and the paged, searchable list of registered domains."""

from __future__ import annotations

import pytest

from tlsrpt.store.domain_import import CHUNK, import_domains
from tlsrpt.store.engine import Store
from tlsrpt.store.lifecycle import (
    count_domains,
    list_domains,
    list_tokens,
    revoke_tokens,
    set_admin,
)
from tlsrpt.store.users import AccountError, add_domain, add_user, get_user, issue_token


@pytest.fixture
def people(store: Store) -> Store:
    with store.write() as conn:
        add_user(conn, "admin@example.com", None, admin=True)
        add_user(conn, "c@example.net", None, admin=False)
    return store


def test_import_registers_in_bulk_and_gives_to_the_owner(people: Store) -> None:
    names = [f"n{i}.example" for i in range(3 * CHUNK + 7)]
    with people.write() as conn:
        add_domain(conn, "n5.example")  # registered already
        add_domain(conn, "n6.example", "c@example.net")  # and owned already
        done = import_domains(conn, [*names, "N1.Example."], "C@example.net")
    assert done.existing == {"n5.example", "n6.example"}
    assert done.added == set(names) - done.existing
    assert done.assigned == set(names) - {"n6.example"}
    with people.read() as conn:
        listed = list_domains(conn)
    assert len(listed) == len(names)
    assert all(d["owners"] == ["c@example.net"] for d in listed)
    with people.write() as conn:  # again: nothing new
        again = import_domains(conn, names, "c@example.net")
    assert again.added == again.assigned == frozenset()


def test_import_refuses_an_unknown_owner_or_a_bad_name_and_writes_nothing(people: Store) -> None:
    with pytest.raises(AccountError, match=r"no user no@example\.org"), people.write() as conn:
        import_domains(conn, ["a.example"], "no@example.org")
    with pytest.raises(AccountError, match="is not a domain name"), people.write() as conn:
        import_domains(conn, ["a.example", "not a name"])
    with people.read() as conn:
        assert count_domains(conn) == 0


def test_set_admin(people: Store) -> None:
    with people.write() as conn:
        assert set_admin(conn, "C@example.net", True) == ("c@example.net", True)
        assert set_admin(conn, "c@example.net", True) == ("c@example.net", False)
        user = get_user(conn, "c@example.net")
        assert user is not None and user.is_admin
        assert set_admin(conn, "c@example.net", False) == ("c@example.net", True)
        with pytest.raises(AccountError, match="no user"):
            set_admin(conn, "no@example.org", True)


def test_revoke_only_ones_own_tokens(people: Store) -> None:
    with people.write() as conn:
        mine = issue_token(conn, "c@example.net")
        theirs = issue_token(conn, "admin@example.com")
    with pytest.raises(AccountError, match=f"no token {theirs.id}"), people.write() as conn:
        revoke_tokens(conn, [mine.id, theirs.id], "c@example.net")
    with people.write() as conn:  # all or nothing: the own token was not revoked either
        assert [t.state for t in list_tokens(conn)] == ["active", "active"]
        assert revoke_tokens(conn, [mine.id], "c@example.net") == ([mine.id], [])
        assert [t.state for t in list_tokens(conn)] == ["revoked", "active"]


def test_list_domains_pages_and_searches(people: Store) -> None:
    with people.write() as conn:
        for i in range(25):
            add_domain(conn, f"d{i:02d}.example", "c@example.net" if i % 2 else None)
    with people.read() as conn:
        page = list_domains(conn, "", 10, 20)
        assert [d["domain"] for d in page] == [f"d{i}.example" for i in range(20, 25)]
        assert page[1]["owners"] == ["c@example.net"] and page[0]["owners"] == []
        assert [d["domain"] for d in list_domains(conn, "D1", 5)] == [
            f"d1{i}.example" for i in range(5)
        ]
        assert count_domains(conn, "d1") == 10
        assert count_domains(conn) == 25
        assert count_domains(conn, "_") == count_domains(conn, "%") == 0
