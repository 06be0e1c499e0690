"""What `tlsrpt serve` starts (`tlsrpt.serve.lifecycle`): the components in
their order, and the report alert rules with the watcher off — a real
`tlsrpt serve` process on a loopback port raises a report alert with
`watch_interval = 0`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson

from tlsrpt.analysis.alert_settings import AlertSettings
from tlsrpt.check import CheckOptions
from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.serve.lifecycle import components
from tlsrpt.settings import load_settings
from tlsrpt.store.alerts import list_alerts
from tlsrpt.store.engine import Store, open_store
from tlsrpt.watch.schedule import WatchConfig
from tlsrpt.watch.wiring import alerting_watcher


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def daily_report(day: date, report_id: str, ok: int, failed: int) -> bytes:
    details = [
        {
            "result-type": "certificate-expired",
            "failed-session-count": failed,
            "receiving-mx-hostname": "mx.example.com",
        }
    ]
    policy = {
        "policy": {
            "policy-type": "sts",
            "policy-string": ["version: STSv1", "mode: enforce", "mx: mx.example.com"],
            "policy-domain": "example.com",
        },
        "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed},
        "failure-details": details if failed else [],
    }
    return orjson.dumps(
        {
            "organization-name": "Google LLC",
            "date-range": {
                "start-datetime": f"{day}T00:00:00Z",
                "end-datetime": f"{day}T23:59:59Z",
            },
            "contact-info": "smtp-tls-reporting@google.com",
            "report-id": report_id,
            "policies": [policy],
        }
    )


def _firing(store: Store) -> list[str]:
    with store.read() as conn:
        return sorted(a["rule"] for a in list_alerts(conn) if a["state"] == "firing")


def test_serve_raises_report_alerts_with_the_watcher_off(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    today = datetime.now(UTC).date()
    with open_store(url) as store:
        # Two clean weeks, then a day with a fifth of the sessions failing.
        days = [(today - timedelta(days=n), f"clean-{n}", 1000, 0) for n in range(2, 16)]
        for day, report_id, ok, failed in [*days, (today - timedelta(days=1), "bad", 800, 200)]:
            result = ingest(
                store, daily_report(day, report_id, ok, failed), SourceInfo("file", "t")
            )
            assert result.outcome == "accepted", result.reason
        assert _firing(store) == []
    config = tmp_path / "tlsrpt.toml"
    config.write_text(f'database_url = "{url}"\nport = {free_port()}\nwatch_interval = "0"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlsrpt", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_")},
    )
    try:
        deadline = time.monotonic() + 60
        with open_store(url) as store:
            while "report-failure-rate" not in _firing(store):
                assert proc.poll() is None, proc.communicate()[1].decode()
                assert time.monotonic() < deadline, "no report alert was raised"
                time.sleep(0.2)
            assert "report-new-result-type" in _firing(store)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"evaluating the report alert rules every 30s" in err
    assert b"watching" not in err and b"Traceback" not in err


def test_components_start_in_order_and_only_when_configured(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'parts.sqlite3'}"
    settings = load_settings(
        None,
        {
            "database_url": url,
            "smtp_port": free_port(),
            "smtp_recipients": ("tlsrpt@example.org",),
            "retention_days": 30,
            "watch_interval": "0",
        },
        env={},
    )
    with open_store(url) as store:
        assert [c.name for c in components(settings, store)] == ["smtp", "report-rules", "prune"]
        # --demo: neither the watcher nor the report rules
        assert [c.name for c in components(settings, store, watch=False)] == ["smtp", "prune"]
        bare = load_settings(None, {"database_url": url, "watch_interval": "0"}, env={})
        assert [c.name for c in components(bare, store)] == ["report-rules"]


def test_serve_s_watcher_leaves_the_report_rules_to_their_own_schedule(store: Store) -> None:
    """No double evaluation: under serve the rules run once per interval,
    not also at the end of every watcher pass (as `tlsrpt watch` runs them)."""
    options = CheckOptions(nameservers=("127.0.0.1",))
    alone = alerting_watcher(store, options, WatchConfig(), AlertSettings(), ())
    served = alerting_watcher(
        store, options, WatchConfig(), AlertSettings(), (), with_report_rules=False
    )
    assert (len(alone.after_pass), len(served.after_pass)) == (1, 0)
    assert len(served.after_check) == 1  # the check rules stay with the checks
