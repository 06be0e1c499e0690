"""`tlsrpt prune` and the daily prune of `tlsrpt serve`: a database of 200
generated days, pruned at 90."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
import sqlalchemy as sa
from cli_harness import cli

from tlsrpt.store.engine import open_store
from tlsrpt.store.schema import daily_rollups, raw_inputs, reports

KINDS = [
    "raw_inputs",
    "reports",
    "policy_results",
    "failure_details",
    "report_duplicates",
    "snapshots",
    "alerts",
    "alert_events",
    "outbox",
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'prune.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def demo_db(db_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    """200 days of generated reports ending today."""
    assert cli(capsys, "demo", "--db", db_url, "--days", "200").status == 0
    return db_url


def _cutoff(days: int) -> str:
    return f"{datetime.now(UTC).date() - timedelta(days=days)}T00:00:00Z"


def _state(url: str) -> tuple[date, int, list[tuple[object, ...]]]:
    """The oldest report day, the raw inputs, and the roll-ups."""
    store = open_store(url)
    try:
        with store.read() as conn:
            oldest = conn.execute(sa.select(sa.func.min(reports.c.day))).scalar_one()
            raws = conn.execute(sa.select(sa.func.count()).select_from(raw_inputs)).scalar_one()
            key = daily_rollups.primary_key.columns
            rollups = [tuple(r) for r in conn.execute(sa.select(daily_rollups).order_by(*key))]
    finally:
        store.close()
    return oldest, raws, rollups


def test_dry_run_then_prune(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = _state(demo_db)
    dry = cli(capsys, "prune", "--db", demo_db, "--older-than", "90", "--dry-run", "--json")
    assert dry.status == 0, dry.err
    counted = orjson.loads(dry.out)
    assert counted["dry_run"] is True and counted["cutoff"] == _cutoff(90)
    assert list(counted["removed"]) == KINDS
    assert counted["removed"]["reports"] > 1000 and counted["removed"]["raw_inputs"] > 1000
    assert _state(demo_db) == before  # nothing changed

    run = cli(capsys, "--db", demo_db, "prune", "--older-than", "90", "--json")
    assert run.status == 0, run.err
    done = orjson.loads(run.out)
    assert done["dry_run"] is False and done["removed"] == counted["removed"]
    oldest, raws, rollups = _state(demo_db)
    assert oldest >= date.fromisoformat(_cutoff(90)[:10])
    assert raws == before[1] - done["removed"]["raw_inputs"]
    assert rollups == before[2]  # the trends stay

    again = cli(capsys, "prune", "--db", demo_db, "--older-than", "90", "--json")
    assert orjson.loads(again.out)["removed"] == dict.fromkeys(KINDS, 0)


def test_human_output(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    dry = cli(capsys, "prune", "--db", demo_db, "--older-than", "190", "--dry-run")
    assert dry.status == 0
    assert dry.out.startswith("would remove ") and " reports (" in dry.out
    assert f"reports of days before {_cutoff(190)[:10]} (UTC); the roll-ups stay" in dry.out
    run = cli(capsys, "prune", "--db", demo_db, "--older-than", "190")
    assert run.out.startswith("removed ") and run.out.split()[1:3] == dry.out.split()[2:4]


def test_limits_from_the_settings(
    demo_db: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "tlsrpt.toml"
    config.write_text("retention_days = 120\nquarantine_retention_days = 400\n")
    run = cli(capsys, "prune", "--db", demo_db, "--config", str(config), "--dry-run", "--json")
    limits = orjson.loads(run.out)["cutoffs"]
    assert limits["reports"] == _cutoff(120) and limits["quarantine"] == _cutoff(400)
    assert (limits["snapshots"], limits["alerts"], limits["outbox"]) == (
        _cutoff(365),
        _cutoff(365),
        _cutoff(30),
    )
    monkeypatch.setenv("TLSRPT_RETENTION_DAYS", "150")
    monkeypatch.setenv("TLSRPT_OUTBOX_RETENTION_DAYS", "0")
    run = cli(capsys, "prune", "--db", demo_db, "--dry-run", "--json")
    limits = orjson.loads(run.out)["cutoffs"]
    assert limits["reports"] == limits["quarantine"] == _cutoff(150)
    assert limits["outbox"] is None  # 0: kept forever
    run = cli(capsys, "prune", "--db", demo_db, "--older-than", "100", "--dry-run", "--json")
    assert orjson.loads(run.out)["cutoff"] == _cutoff(100)  # the option wins


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no limit: give --older-than DAYS or set retention_days"),
        (["--older-than", "0"], "argument --older-than: 0 days: at least 1"),
        (["--older-than", "ninety"], "'ninety' is not a number of days"),
        (["--older-than", "9", "--config", "/nonexistent.toml"], "cannot read /nonexistent.toml"),
    ],
)
def test_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    run = cli(capsys, "prune", "--db", f"sqlite:///{tmp_path / 'x.db'}", *args)
    assert run.status == 2 and message in run.err and "Traceback" not in run.err
    assert not (tmp_path / "x.db").exists()


def test_bad_setting_and_missing_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "tlsrpt.toml"
    config.write_text("retention_days = 0\n")
    run = cli(capsys, "prune", "--config", str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}")
    assert run.status == 2 and "retention_days must be at least 1" in run.err
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    run = cli(capsys, "prune", "--db", missing, "--older-than", "9", "--dry-run")
    assert run.status == 2 and "does not exist" in run.err  # a dry run creates nothing
    assert not (tmp_path / "missing.db").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_prunes_daily_when_retention_days_is_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    assert cli(capsys, "demo", "--db", url, "--days", "200").status == 0
    before = _state(url)
    port = _free_port()
    env = {**os.environ, "TLSRPT_RETENTION_DAYS": "90", "TLSRPT_WATCH_INTERVAL": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlsrpt", "serve", "--db", url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while _state(url)[0] < date.fromisoformat(_cutoff(90)[:10]):
            assert proc.poll() is None and time.monotonic() < deadline, "no prune"
            time.sleep(0.2)
        while True:  # it serves (the prune may finish before the listener opens)
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                break
            except httpx.ConnectError:
                assert proc.poll() is None and time.monotonic() < deadline, "not serving"
                time.sleep(0.2)
        assert answer.status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = err.decode()
    assert proc.returncode == 0, log
    assert "removing reports older than 90 days, daily" in log
    assert "retention: removed " in log and "Traceback" not in log
    assert _state(url)[2] == before[2]  # the roll-ups stay
