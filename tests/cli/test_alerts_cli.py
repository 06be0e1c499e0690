"""`tlsrpt alerts list|ack|mute|unmute|mutes`: JSON shapes, terminal
output and exit status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tlsrpt.analysis.alert_model import Condition
from tlsrpt.cli import main
from tlsrpt.store.alerts import active_mutes, apply_transitions, current_alerts
from tlsrpt.store.engine import open_store
from tlsrpt.watch.lifecycle import plan

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
COOLDOWN = timedelta(hours=2)
KEYS = [
    "id",
    "domain",
    "rule",
    "severity",
    "state",
    "subject",
    "summary",
    "first_seen",
    "last_seen",
    "resolved_at",
    "acked_at",
]


def _evaluate(db: str, domain: str, conditions: list[Condition], now: datetime) -> None:
    store = open_store(db)
    try:
        with store.write() as conn:
            current = current_alerts(conn, [domain])[domain]
            mutes = active_mutes(conn, [domain], now).get(domain, {})
            apply_transitions(conn, domain, plan(current, conditions, mutes, now, COOLDOWN), now)
    finally:
        store.close()


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    expired = Condition(
        "mx-certificate-expired",
        "mx1.example.com",
        "error",
        "the certificate of MX mx1.example.com expired",
        "e",
        "renew",
    )
    silent = Condition(
        "reporter-silent", "Google LLC", "warning", "Google LLC sent no report", "e", None
    )
    _evaluate(url, "example.com", [expired], NOW)
    _evaluate(url, "example.net", [silent], NOW)
    _evaluate(url, "example.net", [], NOW + timedelta(hours=1))  # resolved
    return url


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    return orjson.loads(capsys.readouterr().out)


def test_list_json_shows_firing_alerts(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "list", "--db", db, "--json"]) == 0
    (alert,) = _json(capsys)["alerts"]  # type: ignore[misc]
    assert list(alert) == KEYS
    assert alert["domain"] == "example.com"
    assert alert["rule"] == "mx-certificate-expired"
    assert alert["state"] == "firing"
    assert alert["subject"] == "mx1.example.com"
    assert alert["first_seen"] == "2026-12-01T12:00:00Z"
    assert alert["resolved_at"] is None


def test_list_all_and_by_domain(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "list", "--all", "--db", db, "--json"]) == 0
    alerts = _json(capsys)["alerts"]
    assert [(a["domain"], a["state"]) for a in alerts] == [
        ("example.com", "firing"),
        ("example.net", "resolved"),
    ]  # type: ignore[index, union-attr]
    assert alerts[1]["resolved_at"] == "2026-12-01T13:00:00Z"  # type: ignore[index]
    assert main(["alerts", "list", "--all", "--domain", "Example.NET.", "--db", db, "--json"]) == 0
    assert [a["rule"] for a in _json(capsys)["alerts"]] == ["reporter-silent"]  # type: ignore[union-attr, index]
    assert main(["alerts", "list", "--domain", "example.net", "--db", db]) == 0
    assert "no alert is firing" in capsys.readouterr().out


def test_list_for_people(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "list", "--all", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "mx-certificate-expired" in out and "reporter-silent" in out
    assert "firing" in out and "resolved" in out


def test_report_text_cannot_drive_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'evil.sqlite3'}"
    hostile = Condition(
        "reporter-silent",
        "[bold]Evil\x1b[2J\u202eOrg",
        "warning",
        "silent [red]x[/red] \x07",
        "e",
        None,
    )
    _evaluate(url, "example.com", [hostile], NOW)
    assert main(["alerts", "list", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "\\x1b" in out and "[bold]Evil" in out and "[red]x[/red]" in out


def test_ack(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "list", "--db", db, "--json"]) == 0
    (alert,) = _json(capsys)["alerts"]  # type: ignore[misc]
    assert main(["alerts", "ack", str(alert["id"]), "--by", "ops", "--db", db, "--json"]) == 0
    acked = _json(capsys)["alert"]
    assert acked["id"] == alert["id"] and acked["acked_at"] is not None  # type: ignore[index]
    assert acked["fix"] == "renew"  # type: ignore[index]
    assert main(["alerts", "ack", "9999", "--db", db]) == 1
    assert "no alert 9999" in capsys.readouterr().err


def test_ack_with_a_non_number_is_a_usage_error(db: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["alerts", "ack", "x", "--db", db])
    assert exited.value.code == 2


def test_mute_unmute_and_mutes(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = datetime.now(UTC)
    assert (
        main(
            [
                "alerts",
                "mute",
                "Example.COM",
                "mx-certificate-expired",
                "--for",
                "7d",
                "--db",
                db,
                "--json",
            ]
        )
        == 0
    )
    muted = _json(capsys)
    after = datetime.now(UTC)
    assert (muted["domain"], muted["rule"]) == ("example.com", "mx-certificate-expired")
    until = datetime.fromisoformat(str(muted["until"]))
    assert before + timedelta(days=7) - timedelta(seconds=1) <= until <= after + timedelta(days=7)
    assert main(["alerts", "mute", "-", "quarantine-growing", "--for", "12h", "--db", db]) == 0
    assert "muted for alerts of no domain" in capsys.readouterr().out
    assert main(["alerts", "mutes", "--db", db, "--json"]) == 0
    rows = _json(capsys)["mutes"]
    assert [(r["domain"], r["rule"]) for r in rows] == [
        (None, "quarantine-growing"),
        ("example.com", "mx-certificate-expired"),
    ]  # type: ignore[index, union-attr]
    assert (
        main(["alerts", "unmute", "example.com", "mx-certificate-expired", "--db", db, "--json"])
        == 0
    )
    assert _json(capsys) == {
        "domain": "example.com",
        "rule": "mx-certificate-expired",
        "unmuted": True,
    }
    assert main(["alerts", "unmute", "example.com", "mx-certificate-expired", "--db", db]) == 1
    assert "is not muted" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["example.com", "no-such-rule", "--for", "7d"], "no alert rule 'no-such-rule'"),
        (["not a domain", "reporter-silent", "--for", "7d"], "is not a domain name"),
        (
            ["example.com", "reporter-silent", "--for", "a week"],
            "--for: 'a week' is not a duration",
        ),
        (["example.com", "reporter-silent", "--for", "0"], "--for: a mute lasts longer than 0"),
    ],
)
def test_mute_usage_errors(
    db: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["alerts", "mute", *args, "--db", db]) == 2
    assert message in capsys.readouterr().err


def test_a_finding_code_can_be_muted(db: str) -> None:
    assert main(["alerts", "mute", "example.com", "sts-mode-none", "--for", "1h", "--db", db]) == 0
    assert (
        main(["alerts", "mute", "example.com", "tlsrpt-rua-external", "--for", "1h", "--db", db])
        == 0
    )


def test_an_unusable_database_is_an_environment_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dir.sqlite3").mkdir()
    assert main(["alerts", "list", "--db", f"sqlite:///{tmp_path / 'dir.sqlite3'}"]) == 2
    assert "Traceback" not in capsys.readouterr().err
