"""Output to files and pipes is whole, `--json` everywhere with one shape
per result and UTC timestamps ending in `Z`."""

from __future__ import annotations

import gzip
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_harness import FIXTURES, cli, run_process

LONG_ORG = ("A Very Large Mail Provider With A Long Legal Name, Incorporated " * 2).strip()
LONG_ID = "2025-04-01T00:00:00Z_" + "0123456789abcdef" * 6 + "@reports.example.net"
LONG_DOMAIN = "a-rather-long-subdomain-label.of-a-hosting-customer.example.org"


def _long_report() -> bytes:
    doc = orjson.loads((FIXTURES / "conformant-minimal.json").read_bytes())
    doc["organization-name"] = LONG_ORG
    doc["report-id"] = LONG_ID
    doc["policies"][0]["policy"]["policy-domain"] = LONG_DOMAIN
    return orjson.dumps(doc)


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """One long-named report (report 1, raw input 1) and one quarantined
    input (raw input 2)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    (tmp_path / "long.json").write_bytes(_long_report())
    (tmp_path / "broken.json").write_bytes(b'{"organization-name": ')
    assert cli(capsys, "import", str(tmp_path / "long.json"), "--db", url).status == 0
    assert cli(capsys, "import", str(tmp_path / "broken.json"), "--db", url).status == 1
    return url


def _tsv(text: str) -> list[list[str]]:
    rows = [line.split("\t") for line in text.splitlines()]
    assert len({len(r) for r in rows}) == 1, text  # one field count: nothing split
    return rows


def test_reports_list_into_a_pipe_prints_whole_values(db: str, tmp_path: Path) -> None:
    status, out, err = run_process("reports", "list", "--db", db, cwd=tmp_path, stdout_tty=False)
    assert status == 0, err
    header, row = _tsv(out)
    assert header == [
        "id",
        "day",
        "organization",
        "policy domains",
        "successful",
        "failed",
        "report-id",
    ]
    assert row == ["1", "2025-04-01", LONG_ORG, LONG_DOMAIN, "10", "1", LONG_ID]


def test_summary_and_quarantine_list_into_a_file(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = cli(capsys, "summary", "--db", db).out
    table = summary.split("\n\n")[0]
    assert _tsv(table)[0][-1] == "verdict"
    assert _tsv(table)[1] == [LONG_DOMAIN, "1", "1", "10", "1", "9.09%", "insufficient-data"]
    assert f"\n{LONG_DOMAIN}\n  MTA-STS enforce: insufficient-data: " in summary
    assert "\n  failed sessions by result type: certificate-expired 1" in summary
    (header, row) = _tsv(cli(capsys, "quarantine", "list", "--db", db).out)
    assert header == ["id", "received (UTC)", "source", "bytes", "reason"]
    assert row[2].startswith("file: ") and row[2].endswith("broken.json")
    assert row[4].startswith("json-invalid: ")


def test_a_table_on_a_terminal_is_drawn(db: str, tmp_path: Path) -> None:
    status, out, _ = run_process("reports", "list", "--db", db, cwd=tmp_path)
    assert status == 0
    assert "┃" in out and "\t" not in out


def test_no_progress_bar_when_stdout_is_not_a_terminal(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    status, out, err = run_process(
        "import", str(FIXTURES), "--db", db, cwd=tmp_path, stdout_tty=False, stderr_tty=True
    )
    assert status == 0
    assert out.splitlines()[-1].endswith("0 quarantined")
    assert err == ""


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
DATE = re.compile(r"\d{4}-\d\d-\d\d")


@pytest.mark.parametrize(
    "argv",
    [
        ("reports", "list"),
        ("reports", "show", "1"),
        ("quarantine", "list"),
        ("quarantine", "show", "2"),
        ("export", "reports", "--until", "2025-04-30"),
        ("export", "failures", "--domain", LONG_DOMAIN, "--until", "2025-04-30"),
        ("summary",),
    ],
    ids=" ".join,
)
def test_json_datetimes_carry_z(
    argv: tuple[str, ...], db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, *argv, "--db", db, "--json")
    assert result.status == 0, result.err
    strings = _strings(orjson.loads(result.out))
    times = [s for s in strings if DATETIME.fullmatch(s)]
    assert all(t.endswith("Z") for t in times), times
    assert times or argv[0] == "summary" or argv[1] == "failures"  # those hold days only
    if argv[0] in ("reports", "export"):  # their days stay dates
        assert any(DATE.fullmatch(s) for s in strings)


def test_reports_show_json_times(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    shown = orjson.loads(cli(capsys, "reports", "show", "1", "--db", db, "--json").out)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", shown["received_at"])
    assert shown["day"] == "2025-04-01"


def test_export_takes_json(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["export", "reports", "--until", "2025-04-30", "--db", db]
    as_json = cli(capsys, *args, "--json")
    assert as_json.status == 0, as_json.err
    assert cli(capsys, *args, "--format", "json").out == as_json.out
    assert cli(capsys, *args, "--json", "--format", "json").out == as_json.out
    assert [r["report_id"] for r in orjson.loads(as_json.out)["rows"]] == [LONG_ID]
    both = cli(capsys, *args, "--json", "--format", "csv")
    assert both.status == 2
    assert "--json and --format csv contradict each other" in both.err
    assert cli(capsys, *args).out.startswith("id,")  # CSV stays the default


PARSE_KEYS = {"input", "ok", "kind", "reports", "deviations", "errors", "mail"}


def _mail(tmp_path: Path) -> Path:
    msg = EmailMessage()
    msg["From"] = "noreply@org.example"
    msg["Subject"] = "Report Domain: example.org Submitter: org.example Report-ID: <r@x>"
    msg.set_content("two attachments")
    good = (FIXTURES / "conformant-minimal.json").read_bytes()
    msg.add_attachment(
        gzip.compress(good), maintype="application", subtype="tlsrpt+gzip", filename="a.json.gz"
    )
    msg.add_attachment(
        gzip.compress(good)[:-9], maintype="application", subtype="tlsrpt+gzip", filename="b.gz"
    )
    path = tmp_path / "mail.eml"
    path.write_bytes(msg.as_bytes())
    return path


def test_parse_json_has_one_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{not json")
    inputs = [
        str(FIXTURES / "conformant-minimal.json"),
        str(bad),
        str(tmp_path / "missing.json"),
        str(_mail(tmp_path)),
    ]
    result = cli(capsys, "parse", "--json", *inputs)
    assert result.status == 1
    good, invalid, missing, mail = (orjson.loads(line) for line in result.out.splitlines())
    for doc in (good, invalid, missing, mail):
        assert set(doc) == PARSE_KEYS, doc
    assert (good["ok"], good["kind"], len(good["reports"]), good["errors"]) == (True, "json", 1, [])
    assert good["mail"] is None
    assert (invalid["ok"], invalid["kind"], invalid["reports"]) == (False, "json", [])
    assert [e["code"] for e in invalid["errors"]] == ["json-invalid"]
    assert (missing["ok"], missing["kind"]) == (False, None)
    assert [e["code"] for e in missing["errors"]] == ["unreadable"]
    assert (mail["ok"], mail["kind"], len(mail["reports"])) == (False, "email", 1)
    assert [e["code"] for e in mail["errors"]] == ["gzip-truncated"]
    assert mail["mail"]["subject"].startswith("Report Domain: example.org")
