"""The backups docs/deployment.md describes give a database tlsrpt takes
back: SQLite's online backup (the sqlite3 shell's `.backup`, Python's
`sqlite3.Connection.backup`) taken while the service holds the database
open, and `pg_dump -Fc` restored with `pg_restore`. After a restore the
reports are there, the schema is current, and new reports are stored."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.pgschema import schema_url
from tlsrpt.store.schema import reports
from tlsrpt.store.url import normalize_url

FIXTURE = Path(__file__).parents[1] / "fixtures" / "reports" / "conformant-minimal.json"


def _store_report(store: Store, report_id: str) -> None:
    body = FIXTURE.read_bytes().replace(b'"r-1"', f'"{report_id}"'.encode())
    result = ingest(store, body, SourceInfo("file", f"{report_id}.json", None, {}))
    assert result.outcome == "accepted", result.reason


def _report_ids(url: str) -> list[str]:
    with open_store(url, read_only=True) as store, store.read() as conn:
        return sorted(conn.execute(sa.select(reports.c.report_id)).scalars())


def _takes_new_reports(url: str) -> None:
    with open_store(url, migrate=False) as store:
        _store_report(store, "after-restore")
    assert "after-restore" in _report_ids(url)


def _sqlite3_shell(source: Path, target: Path) -> None:
    shell = shutil.which("sqlite3")
    if shell is None:
        pytest.skip("the sqlite3 shell is not installed (Debian package sqlite3)")
    subprocess.run([shell, str(source), f".backup '{target}'"], check=True, timeout=60)


def _python_api(source: Path, target: Path) -> None:
    # the one-liner of the docs, for images without the sqlite3 shell
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    src.backup(dst)
    dst.close()
    src.close()


@pytest.mark.parametrize("backup", [_sqlite3_shell, _python_api], ids=["shell", "python"])
def test_sqlite_online_backup_while_the_database_is_open(
    tmp_path: Path, backup: Callable[[Path, Path], None]
) -> None:
    live = tmp_path / "live" / "tlsrpt.sqlite3"
    live.parent.mkdir()
    with open_store(f"sqlite:///{live}") as store:
        for n in range(3):
            _store_report(store, f"before-{n}")
        # the service still has it open; the latest commits are in the WAL
        assert Path(f"{live}-wal").stat().st_size > 0
        copy = tmp_path / "backup.sqlite3"
        backup(live, copy)
        _store_report(store, "after-backup")
    restored = tmp_path / "restored" / "tlsrpt.sqlite3"
    restored.parent.mkdir()
    shutil.copy(copy, restored)
    url = f"sqlite:///{restored}"
    assert _report_ids(url) == ["before-0", "before-1", "before-2"]
    _takes_new_reports(url)


@pytest.mark.postgres
def test_pg_dump_custom_format_restores(postgres_base: str, tmp_path: Path) -> None:
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian package postgresql-client)")
    # one schema of the test server stands for the database (the docs dump
    # the whole database; the format and the restore are the same)
    schema = f"tlsrpt_backup_{uuid.uuid4().hex[:12]}"
    url = schema_url(postgres_base, schema)
    admin = sa.create_engine(normalize_url(postgres_base), isolation_level="AUTOCOMMIT")
    dump = tmp_path / "tlsrpt.dump"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        with open_store(url) as store:
            for n in range(3):
                _store_report(store, f"before-{n}")
        subprocess.run(
            ["pg_dump", "-Fc", f"--schema={schema}", "-f", str(dump), postgres_base],
            check=True,
            timeout=120,
        )
        with admin.connect() as conn:  # the data is lost
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        subprocess.run(
            ["pg_restore", "--no-owner", "-d", postgres_base, str(dump)], check=True, timeout=120
        )
        assert _report_ids(url) == ["before-0", "before-1", "before-2"]
        _takes_new_reports(url)  # the sequences came along
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql("SET lock_timeout = '10s'")
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()
