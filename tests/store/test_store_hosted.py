"""Hosted policy versions in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tlsrpt.mtasts import Change, new_version
from tlsrpt.store.engine import Store
from tlsrpt.store.hosted import (
    current_version,
    history,
    hosted_domains,
    hosted_policy_versions,
    is_hosted,
    is_registered,
    publish,
)
from tlsrpt.store.users import add_domain

T0 = datetime(2026, 12, 7, 12, 0, 0, 123456, tzinfo=UTC)


def test_versions_round_trip_byte_for_byte_and_the_last_is_current(store: Store) -> None:
    with store.write() as conn:
        add_domain(conn, "example.com")
        first = new_version(
            "example.com",
            [],
            Change("testing", ("mx1.example.com", "*.mx.example.com"), 86400, "init"),
            now=T0,
            created_by="ops",
        )
        publish(conn, first)
    with store.write() as conn:
        second = new_version(
            "example.com",
            history(conn, "example.com"),
            Change("enforce", ("mx1.example.com",), 604800, "promote --force: ünïcode ✓"),
            now=T0 + timedelta(days=1),
            created_by="ops",
        )
        publish(conn, second)
    with store.read() as conn:
        assert current_version(conn, "example.com") == second
        assert history(conn, "example.com") == [first, second]
        assert is_hosted(conn, "example.com") and is_registered(conn, "example.com")
        assert hosted_domains(conn) == ["example.com"]
        stored = conn.execute(
            sa.select(hosted_policy_versions.c.text).where(hosted_policy_versions.c.version == 1)
        ).scalar_one()
    assert stored.encode() == first.text.encode() and "\r\n" in stored
    assert first.created_at == T0  # microseconds and UTC survive both backends


@pytest.mark.parametrize("name", ["other.example", "", "mta-sts.example.com", "exa\x00mple.com"])
def test_unknown_names_are_simply_absent(store: Store, name: str) -> None:
    with store.read() as conn:
        assert current_version(conn, name) is None
        assert history(conn, name) == []
        assert not is_hosted(conn, name)
        assert not is_registered(conn, name)


def test_a_version_number_is_stored_once(store: Store) -> None:
    version = new_version(
        "example.com", [], Change("testing", ("mx.example.com",), 86400), now=T0, created_by="a"
    )
    with store.write() as conn:
        publish(conn, version)
    with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
        publish(conn, version)
    with store.read() as conn:
        assert history(conn, "example.com") == [version]
