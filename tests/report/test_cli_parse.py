"""`tlsrpt parse`: output and exit status."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from tlsrpt.cli import main

FIXTURES = Path(__file__).parent.parent / "fixtures" / "reports"


def test_human_output_one_line_per_report(capsys):
    assert (
        main(
            [
                "parse",
                str(FIXTURES / "google-sts-success.json"),
                str(FIXTURES / "microsoft-sts-tlsa.json"),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert "Google Inc." in lines[0] and "example.org" in lines[0]
    assert "120 ok" in lines[0] and "0 failed" in lines[0] and "1 deviations" in lines[0]
    assert "2025-03-01 00:00" in lines[0]


def test_json_lines(capsys, tmp_path):
    gz = tmp_path / "r.json.gz"
    gz.write_bytes(gzip.compress((FIXTURES / "rfc-style-string-mx.json").read_bytes()))
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{not json")
    assert main(["parse", "--json", str(gz), str(bad)]) == 1
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["kind"] == "gzip"
    report = first["reports"][0]["report"]
    assert report["policies"][0]["policy"]["mx-host"] == ["*.mail.example.org"]
    assert {d["code"] for d in first["reports"][0]["deviations"]} >= {"ip-not-canonical"}
    assert set(second) == set(first)
    assert (second["ok"], second["reports"]) == (False, [])
    assert [e["code"] for e in second["errors"]] == ["json-invalid"]


def test_strict_rejects_quirks(capsys):
    assert main(["parse", "--strict", str(FIXTURES / "microsoft-no-offset.json")]) == 1
    assert "strict-violation" in capsys.readouterr().out


def test_hostile_markup_is_not_interpreted(capsys, tmp_path):
    assert main(["parse", "-v", str(FIXTURES / "hostile-strings.json")]) == 0
    out = capsys.readouterr().out
    assert "<script>alert('org')</script>" in out
    doc = json.loads((FIXTURES / "conformant-minimal.json").read_bytes())
    doc["organization-name"] = "[bold red]fake[/bold red] [link=http://x]y[/link]"
    path = tmp_path / "markup.json"
    path.write_text(json.dumps(doc))
    assert main(["parse", str(path)]) == 0
    assert "[bold red]fake[/bold red] [link=http://x]y[/link]" in capsys.readouterr().out


def test_stdin_and_exit_codes(tmp_path):
    data = (FIXTURES / "contact-null.json").read_bytes()
    ok = subprocess.run(
        [sys.executable, "-m", "tlsrpt", "parse", "-"], input=data, capture_output=True, check=False
    )
    assert ok.returncode == 0, ok.stderr
    assert b"relay.example.com" in ok.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "tlsrpt", "parse", str(tmp_path / "nope")],
        capture_output=True,
        check=False,
    )
    assert missing.returncode == 1
    assert b"Traceback" not in missing.stderr + missing.stdout
    usage = subprocess.run(
        [sys.executable, "-m", "tlsrpt", "parse"], capture_output=True, check=False
    )
    assert usage.returncode == 2
    version = subprocess.run(
        [sys.executable, "-m", "tlsrpt", "--version"], capture_output=True, check=False, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("tlsrpt ")
