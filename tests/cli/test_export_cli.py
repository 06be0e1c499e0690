"""`tlsrpt export`: the API's tables from the command line, and the CSV
formula neutralization it shares with the API."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from tlsrpt.cli import main
from tlsrpt.cli.output import json_bytes as cli_json_bytes
from tlsrpt.demo import load_demo
from tlsrpt.export import csv_cell, json_bytes, to_csv
from tlsrpt.store.engine import open_store

END = date(2026, 11, 28)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('export') / 'export.sqlite3'}"
    store = open_store(url)
    load_demo(store, END, 30)
    store.close()
    return url


def test_export_domains_csv(db: str, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["export", "domains", "--until", "2026-11-28", "--db", db]) == 0
    rows = list(csv.DictReader(io.StringIO(capsysbinary.readouterr().out.decode())))
    by_domain = {r["domain"]: r for r in rows}
    assert by_domain["example.com"]["readiness"] == "ready"
    assert by_domain["new.example.io"]["readiness"] == "insufficient-data"


def test_export_daily_json_to_a_file(db: str, tmp_path: Path) -> None:
    out = tmp_path / "daily.json"
    args = ["export", "daily", "--domain", "example.com", "--days", "5", "--until", "2026-11-28"]
    assert main([*args, "--format", "json", "-o", str(out), "--db", db]) == 0
    rows = orjson.loads(out.read_bytes())["rows"]
    assert [r["day"] for r in rows] == [f"2026-11-{d}" for d in range(24, 29)]
    assert all(r["reports"] == 3 for r in rows)


def test_export_usage_errors(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "failures", "--db", db]) == 2
    assert "needs --domain" in capsys.readouterr().err
    assert main(["export", "daily", "--domain", "unknown.example", "--db", db]) == 2
    assert "no reports or registration" in capsys.readouterr().err
    assert main(["export", "domains", "--days", "0", "--db", db]) == 2


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_formula_cells_get_an_apostrophe(text: str) -> None:
    assert csv_cell(text) == "'" + text
    assert to_csv([{"a": text}], ["a"]).splitlines()[1].lstrip('"').startswith("'")


def test_numbers_and_plain_text_are_kept() -> None:
    assert csv_cell(-3) == -3
    assert csv_cell(0.5) == 0.5
    assert csv_cell(None) == ""
    assert csv_cell("mx1.example.com") == "mx1.example.com"
    assert csv_cell(["a", "=b"]) == "a =b"


@pytest.mark.parametrize("count", [7, 2**64 * 9])  # within 64 bits (orjson); past them
def test_json_writes_utc_times_and_exact_integers(count: int) -> None:
    """Whichever encoder writes it: datetimes in UTC with `Z` (naive ones
    are UTC already), dates ISO, integers exact, other values as text."""
    plus_two = timezone(timedelta(hours=2))
    body = {
        "count": count,
        "naive": datetime(2024, 3, 5, 9, 30),
        "aware": datetime(2024, 3, 5, 11, 30, 0, 500, tzinfo=plus_two),
        "utc": datetime(2024, 3, 5, 9, 30, tzinfo=UTC),
        "day": date(2024, 3, 5),
        "at": time(9, 30),
        "sum": Decimal(5),
        "text": "mx1.example.com",
    }
    expected = {
        "count": count,
        "naive": "2024-03-05T09:30:00Z",
        "aware": "2024-03-05T09:30:00.000500Z",
        "utc": "2024-03-05T09:30:00Z",
        "day": "2024-03-05",
        "at": "09:30:00",
        "sum": "5",
        "text": "mx1.example.com",
    }
    assert json.loads(json_bytes(body)) == expected
    assert json.loads(json_bytes({"rows": [body]})) == {"rows": [expected]}
    assert json.loads(cli_json_bytes(body)) == expected  # the CLI's, terminal-safe


def test_cli_json_past_64_bits_stays_terminal_safe() -> None:
    data = cli_json_bytes({"n": 2**70, "org": "evil\x1b]0;x\x07\u202e"})
    assert data.isascii() and b"\x1b" not in data and b"\x07" not in data
    assert json.loads(data) == {"n": 2**70, "org": "evil\x1b]0;x\x07\u202e"}
