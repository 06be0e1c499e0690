"""Schema, migrations, URLs and engine settings, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from setuptools import find_namespace_packages

from tlsrpt.ingest.model import RawInput, SourceInfo
from tlsrpt.ingest.pipeline import ingest_batch
from tlsrpt.store import migrate
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.location import default_database_path
from tlsrpt.store.schema import daily_rollups, metadata, policy_results
from tlsrpt.store.url import StoreError, normalize_url, resolve_url


def test_migrations_build_exactly_the_schema(store: Store) -> None:
    with store.read() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        assert migrate.current_revision(conn) == migrate.head_revision()


def _rollups(store: Store) -> list[tuple[Any, ...]]:
    with store.read() as conn:
        query = sa.select(daily_rollups).order_by(*daily_rollups.primary_key.columns)
        return [tuple(row) for row in conn.execute(query)]


def _attributions(store: Store) -> list[tuple[Any, ...]]:
    p = policy_results
    with store.read() as conn:
        query = sa.select(p.c.report_pk, p.c.ordinal, p.c.attribution).order_by(
            "report_pk", "ordinal"
        )
        return [tuple(row) for row in conn.execute(query)]


def _varied_inputs(make: Any) -> list[RawInput]:
    """Several domains and days, sts and tlsa, failures, an empty result
    type, a report without policy domain, a duplicate and a conflict."""
    file = SourceInfo("file", "/in/r.json")
    reports = [
        make.json(
            f"r{i}",
            org=f"Org {i % 3}",
            day=f"2024-03-{i % 5 + 1:02d}",
            policies=[
                make.policy(
                    f"d{i % 4}.example",
                    ok=i,
                    failed=i % 3,
                    failures=[make.failure(count=i % 3 + 1)],
                ),
                make.policy(
                    f"d{i % 4}.example",
                    "tlsa",
                    ok=2,
                    failures=[make.failure("", 1), make.failure("tlsa-invalid", 2)],
                ),
                make.policy(None, "no-policy-found", ok=1),
            ],
        )
        for i in range(12)
    ]
    reports += [reports[0], make.json("r1", org="Org 1", day="2024-03-02")]
    return [RawInput(body, file) for body in reports]


def test_upgrade_from_first_revision_backfills_rollups(
    db_url: str, tmp_path: Path, make: Any
) -> None:
    """A database created by revision 0001 (reports, no roll-ups) upgrades to
    head, the roll-ups it back-fills (`daily_rollups`, then `domain_days`
    from them) and the attributions equal those kept by ingest."""
    reference = open_store(f"sqlite:///{tmp_path / 'reference.sqlite3'}")
    results = ingest_batch(reference, _varied_inputs(make))
    assert [r.outcome for r in results][-2:] == ["duplicate", "duplicate"]
    expected = _rollups(reference)
    assert expected

    old = Store(db_url)
    before, after = migrate.upgrade(old, "0001")
    assert (before, after) == (None, "0001")
    tables = ("raw_inputs", "reports", "policy_results", "failure_details", "report_duplicates")
    with reference.read() as src, old.write() as dst:
        assert not sa.inspect(dst).has_table("daily_rollups")
        for name in tables:
            table = metadata.tables[name]
            known = {c["name"] for c in sa.inspect(dst).get_columns(name)}
            columns = [c for c in table.columns if c.name in known]
            rows = [dict(r._mapping) for r in src.execute(sa.select(*columns))]
            if rows:
                dst.execute(table.insert(), rows)
    assert migrate.upgrade(old) == ("0001", migrate.head_revision())
    assert _rollups(old) == expected
    days = sa.select(metadata.tables["domain_days"]).order_by(*metadata.tables["domain_days"].c)
    with reference.read() as ref, old.read() as upgraded:
        kept = [tuple(r) for r in ref.execute(days)]
        assert kept and [tuple(r) for r in upgraded.execute(days)] == kept
        names = sa.select(metadata.tables["reported_domains"]).order_by("domain")
        assert [tuple(r) for r in upgraded.execute(names)] == [tuple(r) for r in ref.execute(names)]
    assert _attributions(old) == _attributions(reference)
    assert {how for _, _, how in _attributions(old)} == {"reported", "sts-policy-of-report"}
    old.close()
    reference.close()


def test_open_store_refuses_a_newer_schema(db_url: str) -> None:
    store = open_store(db_url)
    with store.write() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    with pytest.raises(StoreError, match="9999, unknown to this version"):
        open_store(db_url)


def test_sqlite_runs_with_wal_foreign_keys_and_full_sync(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO report_duplicates (raw_id, report_pk, conflict, content_sha256) "
            "VALUES (1, 1, 0, 'x')"
        )
    store.close()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///reports.db", "sqlite+pysqlite:///reports.db"),
        ("sqlite:////var/lib/tlsrpt/r.db", "sqlite+pysqlite:////var/lib/tlsrpt/r.db"),
        ("/var/lib/tlsrpt/r.db", "sqlite+pysqlite:////var/lib/tlsrpt/r.db"),
        (
            "postgresql://tlsrpt@db.internal/tlsrpt",
            "postgresql+psycopg://tlsrpt@db.internal/tlsrpt",
        ),
        ("postgres://u:pw@127.0.0.1:5433/x", "postgresql+psycopg://u:pw@127.0.0.1:5433/x"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
    ],
)
def test_urls_as_users_write_them(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("mysql://u@h/d", "unsupported database URL scheme 'mysql'"),
        ("postgresql+psycopg2://u@h/d", "unsupported database URL scheme"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("", "empty database URL"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(given: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        normalize_url(given)


def test_default_database_is_a_file_in_the_user_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TLSRPT_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_database_path() == tmp_path / "data" / "tlsrpt" / "tlsrpt.sqlite3"
    url = resolve_url(None)
    assert url.database == str(tmp_path / "data" / "tlsrpt" / "tlsrpt.sqlite3")
    assert (tmp_path / "data" / "tlsrpt").is_dir()
    monkeypatch.setenv("TLSRPT_DATABASE_URL", "postgresql://a@b/c")
    assert resolve_url(None).drivername == "postgresql+psycopg"
    assert resolve_url("sqlite:///x.db").drivername == "sqlite+pysqlite"


def test_unreachable_postgresql_is_a_clear_error() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(
        StoreError, match=f"cannot open database postgresql://nobody@127.0.0.1:{port}/x"
    ):
        open_store(f"postgresql://nobody@127.0.0.1:{port}/x")


def test_password_never_appears_in_messages() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreError) as caught:
        open_store(f"postgresql://u:s3cret@127.0.0.1:{port}/x")
    assert "s3cret" not in str(caught.value)


def test_migrations_ship_inside_the_package() -> None:
    """setuptools' discovery (pyproject: packages.find) takes the migration
    environment and every revision into the wheel."""
    packages = find_namespace_packages(where=str(Path(__file__).parents[2] / "src"))
    assert "tlsrpt.store.migrations" in packages
    assert "tlsrpt.store.migrations.versions" in packages
    versions = migrate.MIGRATIONS / "versions"
    assert sorted(p.name for p in versions.glob("*.py")) == [
        "0001_reports.py",
        "0002_daily_rollups.py",
        "0003_accounts.py",
        "0004_imap_watermarks.py",
        "0005_account_lifecycle.py",
        "0006_quarantine_budget.py",
        "0007_watch_history.py",
        "0008_alerts.py",
        "0009_outbox.py",
        "0010_hosted_policies.py",
        "0011_retention.py",
        "0012_rate_limits.py",
        "0013_domain_days.py",
        "0014_attribution.py",
    ]
    assert (migrate.MIGRATIONS / "script.py.mako").is_file()
