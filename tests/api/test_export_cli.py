"""`tlsrpt export`: the API's tables from the command line, and the CSV
formula neutralization it shares with the API."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import orjson
import pytest

from tlsrpt.cli import main
from tlsrpt.demo import load_demo
from tlsrpt.export import csv_cell, to_csv
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
