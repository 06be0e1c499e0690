"""`tlsrpt alerts outbox [--all] [--json]`: what waits, what failed and
why; exit status 1 when a notification failed for good."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest

from tlsrpt import cli
from tlsrpt.channels import parse_channels
from tlsrpt.cli.alerts_outbox import register_outbox
from tlsrpt.store import outbox
from tlsrpt.store.engine import Store

CHANNELS = parse_channels(
    [{"type": "webhook", "name": "ops", "url": "http://127.0.0.1:9/", "secret": "k"}]
)


@pytest.fixture
def now() -> dt.datetime:
    """The wall clock when the test starts: `alerts outbox` judges leases by
    it, so a module-level time would go stale in a long test run."""
    return dt.datetime.now(dt.UTC)


def run(argv: Sequence[str]) -> int:
    """Through `tlsrpt` when it has the `alerts` command, else through an
    `alerts` group holding only `outbox`."""
    if "alerts" in cli.COMMAND_MODULES:
        return cli.main(list(argv))
    parser = argparse.ArgumentParser(prog="tlsrpt")
    alerts = parser.add_subparsers().add_parser("alerts")
    register_outbox(alerts.add_subparsers(required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def _fill(
    store: Store, alert_factory: Callable[..., dict[str, Any]], now: dt.datetime
) -> list[outbox.OutboxRow]:
    with store.write() as conn:
        for n in (1, 2, 3):
            summary = "hostile \x1b[31m[bold]summary[/bold]" if n == 2 else f"alert {n}"
            outbox.enqueue(
                conn, "alert.firing", alert_factory(n, summary=summary), CHANNELS, now=now
            )
    rows = outbox.claim(store, "me", now, dt.timedelta(minutes=5), 10, ["ops"])
    outbox.mark_delivered(store, [rows[0].id], now)
    outbox.mark_retry(store, [rows[1].id], "me", now + dt.timedelta(minutes=1), "HTTP 503")
    return rows


def test_outbox_json(
    sqlite_store: Store,
    alert_factory: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    now: dt.datetime,
) -> None:
    rows = _fill(sqlite_store, alert_factory, now)
    url = str(sqlite_store.url)
    assert run(["alerts", "outbox", "--json", "--db", url]) == 0
    listed = orjson.loads(capsys.readouterr().out)
    assert [(r["id"], r["state"]) for r in listed["outbox"]] == [
        (rows[2].id, "sending"),  # leased, not recorded yet
        (rows[1].id, "pending"),
    ]
    pending = listed["outbox"][1]
    assert pending["last_error"] == "HTTP 503" and pending["attempts"] == 1
    assert pending["idempotency_key"] == rows[1].idempotency_key
    assert listed["channels"][0]["pending"] == 2
    assert run(["alerts", "outbox", "--all", "--json", "--db", url]) == 0
    every = orjson.loads(capsys.readouterr().out)["outbox"]
    assert [r["state"] for r in every] == ["sending", "pending", "delivered"]


def test_outbox_table_and_failed_exit_status(
    sqlite_store: Store,
    alert_factory: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    now: dt.datetime,
) -> None:
    rows = _fill(sqlite_store, alert_factory, now)
    error = "HTTP 400 Bad Request: \x1b[2J[bold]no[/bold]"  # a receiver's words
    outbox.mark_failed(sqlite_store, [rows[2].id], "me", error)
    assert run(["alerts", "outbox", "--db", str(sqlite_store.url)]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out  # shown as an escape, as every command shows it
    lines = out.splitlines()
    assert lines[0].startswith(f"#{rows[2].id} failed alert.firing example.com ")
    assert lines[0].endswith("HTTP 400 Bad Request: \\x1b[2J[bold]no[/bold]")
    assert lines[1].startswith(f"#{rows[1].id} pending ")
    assert lines[1].endswith(
        "to ops, 1 attempt(s), next "
        + (now + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        + ": HTTP 503"
    )
    assert lines[-1].startswith("ops: 1 pending, 1 failed, oldest since ")
