"""Fixtures of the CLI tests; the helpers are in `cli_harness`."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cli_harness import cli, hostile_report


@pytest.fixture
def hostile_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A SQLite database holding the hostile report (raw input 1, report 1)
    and a quarantined input with a hostile file name and content (raw 2)."""
    db = f"sqlite:///{tmp_path / 'hostile.sqlite3'}"
    report = tmp_path / "hostile.json"
    report.write_bytes(orjson.dumps(hostile_report()))
    assert cli(capsys, "import", str(report), "--db", db).status == 0
    bad = tmp_path / "bad\x1b[2J\u202e.json"
    link = "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"  # an OSC 8 hyperlink
    bad.write_text(f'{{"organization-name": "{link}", \x9b', encoding="utf-8")
    assert cli(capsys, "import", str(bad), "--db", db).status == 1
    return db
