"""Text from reports never reaches a terminal raw: every human-readable line
shows control characters, escape sequences, bidi overrides and invisible
format characters as visible escapes; `--json` keeps the exact data."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from cli_harness import (
    HOSTILE_ID,
    HOSTILE_MX,
    HOSTILE_ORG,
    HOSTILE_REASON,
    RICH_SGR,
    cli,
    hostile_report,
    run_process,
    unsafe_characters,
)
from rich.console import Console

from tlsrpt.check import DomainReport, Severity
from tlsrpt.check.findings import Finding
from tlsrpt.cli.check import print_report
from tlsrpt.cli.terminal import json_escape_invisible, safe_text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\tb\nc\rd\x08\x00", "a\\x09b\\x0ac\\x0dd\\x08\\x00"),
        ("del\x7f c1\x9b nel\x85", "del\\x7f c1\\x9b nel\\x85"),
        ("\u202egnp.exe\u202c", "\\u202egnp.exe\\u202c"),
        (
            "\u2066\u2067\u2068\u2069\u200e\u200f\u061c",
            "\\u2066\\u2067\\u2068\\u2069\\u200e\\u200f\\u061c",
        ),
        ("zero\u200bwidth\ufeff\u2060", "zero\\u200bwidth\\ufeff\\u2060"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("surrogate\udcff", "surrogate\\udcff"),
    ],
)
def test_safe_text_shows_what_a_terminal_would_act_on(text: str, shown: str) -> None:
    assert safe_text(text) == shown
    assert not unsafe_characters(safe_text(text), allowed="")


@pytest.mark.parametrize(
    "text",
    [
        "mx.example.com",
        "Mail.Ru Группа",
        "例え.テスト",
        "C:\\reports\\x",
        "[red]x[/] :smile:",
        "a\u00a0b",
    ],
)
def test_safe_text_keeps_printable_text(text: str) -> None:
    assert safe_text(text) == text


def test_json_escapes_keep_the_exact_data() -> None:
    value = {"s": HOSTILE_ORG + HOSTILE_MX + "\U000e0041 Группа \x7f"}
    escaped = json_escape_invisible(orjson.dumps(value).decode())
    assert orjson.loads(escaped) == value
    assert not unsafe_characters(escaped, allowed="")
    assert "\\u202e" in escaped and "\\udb40\\udc41" in escaped and "Группа" in escaped


def _assert_human_safe(text: str) -> None:
    assert not unsafe_characters(text, allowed="\n\t"), text
    for kept in ("[red]red[/]", ":smile:"):  # rich markup and emoji codes stay literal
        assert kept in text


# Every command that prints stored or parsed data, on the hostile database.
HUMAN_COMMANDS = [
    ("summary",),
    ("reports", "list"),
    ("reports", "show", "1"),
    ("quarantine", "list"),
    ("quarantine", "show", "2"),
]


@pytest.mark.parametrize("argv", HUMAN_COMMANDS, ids=" ".join)
def test_stored_data_is_escaped_without_a_terminal(
    argv: tuple[str, ...], hostile_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, *argv, "--db", hostile_db)
    assert result.status == 0, result.err
    assert not unsafe_characters(result.out + result.err, allowed="\n\t"), result.out
    assert "\\x1b" in result.out


def test_report_fields_are_escaped_and_markup_stays_literal(
    hostile_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = cli(capsys, "reports", "show", "1", "--db", hostile_db).out
    _assert_human_safe(shown)
    assert safe_text(HOSTILE_ORG) in shown
    assert safe_text(HOSTILE_ID) in shown
    assert safe_text(HOSTILE_MX) in shown
    assert safe_text(HOSTILE_REASON) in shown
    listed = cli(capsys, "reports", "list", "--db", hostile_db).out
    _assert_human_safe(listed)
    assert safe_text(HOSTILE_ORG) in listed
    quarantined = cli(capsys, "quarantine", "show", "2", "--db", hostile_db).out
    assert "\\x1b]8;;http://evil.example/\\x1b\\click" in quarantined
    assert "bad\\x1b[2J\\u202e.json" in quarantined


@pytest.mark.parametrize("argv", HUMAN_COMMANDS, ids=" ".join)
def test_stored_data_is_escaped_on_a_terminal(
    argv: tuple[str, ...], hostile_db: str, tmp_path: Path
) -> None:
    status, out, _ = run_process(*argv, "--db", hostile_db, cwd=tmp_path)
    assert status == 0, out
    # rich's own colour sequences are the only escape sequences written
    assert not unsafe_characters(RICH_SGR.sub("", out), allowed="\n"), out
    assert "\\x1b" in out


def test_parse_escapes_and_json_is_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hostile.json"
    path.write_bytes(orjson.dumps(hostile_report()))
    human = cli(capsys, "parse", "-v", str(path))
    assert human.status == 0
    _assert_human_safe(human.out)
    assert safe_text(HOSTILE_ORG) in human.out
    status, on_tty, _ = run_process("parse", "-v", str(path), cwd=tmp_path)
    assert status == 0
    assert not unsafe_characters(RICH_SGR.sub("", on_tty), allowed="\n")
    doc = orjson.loads(cli(capsys, "parse", "--json", str(path)).out)
    report = doc["reports"][0]["report"]
    assert report["organization-name"] == HOSTILE_ORG
    assert report["report-id"] == HOSTILE_ID
    detail = report["policies"][0]["failure-details"][0]
    assert (detail["receiving-mx-hostname"], detail["failure-reason-code"]) == (
        HOSTILE_MX,
        HOSTILE_REASON,
    )


def test_json_of_stored_data_is_exact_and_terminal_safe(
    hostile_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = cli(capsys, "reports", "list", "--db", hostile_db, "--json").out
    assert not unsafe_characters(raw)
    (row,) = orjson.loads(raw)["reports"]
    assert (row["organization"], row["report_id"]) == (HOSTILE_ORG, HOSTILE_ID)
    shown = orjson.loads(cli(capsys, "reports", "show", "1", "--db", hostile_db, "--json").out)
    assert shown["report"]["organization-name"] == HOSTILE_ORG
    quarantined = orjson.loads(cli(capsys, "quarantine", "list", "--db", hostile_db, "--json").out)[
        "quarantined"
    ]
    assert quarantined[0]["source_detail"].endswith("bad\x1b[2J\u202e.json")


def test_import_lines_and_errors_are_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    bad = tmp_path / "q\x1b[2J\u202e.json"
    bad.write_bytes(b"{")
    result = cli(capsys, "import", str(bad), "--db", db)
    assert result.status == 1
    assert "q\\x1b[2J\\u202e.json" in result.out
    assert not unsafe_characters(result.out + result.err)
    missing = cli(capsys, "import", str(tmp_path / "gone\x1b]0;t\x07"), "--db", db)
    assert missing.status == 2
    assert "gone\\x1b]0;t\\x07: no such file or directory" in missing.err
    assert not unsafe_characters(missing.err)


def test_lint_escapes_the_record(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "lint", "tlsrpt-record", "v=TLSRPTv1;rua=mailto:a@\x1b[2J\u202ex.test")
    assert result.status == 1
    assert not unsafe_characters(result.out), result.out
    assert "\\x1b[2J" in result.out


def test_check_output_escapes_remote_text() -> None:
    finding = Finding(
        code="sts-policy-invalid",
        severity=Severity.ERROR,
        message="policy line 2: 'mode: \x1b[2Jenforce\u202e'\nsecond line \x9b",
        fix="publish\x1b]0;x\x07 a policy\nthen wait",
    )
    report = DomainReport(
        domain="ex\x1bample.com",
        findings=(finding,),
        tlsrpt={},
        mta_sts={},
        mx=[],
        complete=True,
        elapsed=0.0,
    )
    out = io.StringIO()
    print_report(report, Console(file=out, width=200, emoji=False))
    text = out.getvalue()
    assert not unsafe_characters(text), text
    assert "mode: \\x1b[2Jenforce\\u202e'" in text
    assert "\n      second line \\x9b" in text
    assert "publish\\x1b]0;x\\x07 a policy\n           then wait" in text


def test_csv_export_is_exact_into_a_pipe_and_escaped_on_a_terminal(
    hostile_db: str, tmp_path: Path
) -> None:
    argv = ("export", "reports", "--until", "2025-03-31", "--db", hostile_db)
    status, piped, _ = run_process(*argv, cwd=tmp_path, stdout_tty=False)
    assert status == 0
    assert HOSTILE_ORG in piped
    status, shown, _ = run_process(*argv, cwd=tmp_path)
    assert status == 0
    lines = shown.replace("\r\n", "\n").replace("\r\n", "\n")
    assert not unsafe_characters(lines), lines
    assert safe_text(HOSTILE_ORG) in lines


def test_raw_input_is_not_written_to_a_terminal(hostile_db: str, tmp_path: Path) -> None:
    argv = ("quarantine", "export", "2", "-o", "-", "--db", hostile_db)
    status, out, _ = run_process(*argv, cwd=tmp_path)
    assert status == 2
    assert "-o - writes raw bytes: redirect stdout to a file or pipe" in out
    assert "\x1b]8" not in out
    status, piped, _ = run_process(*argv, cwd=tmp_path, stdout_tty=False)
    assert status == 0
    assert piped.startswith('{"organization-name": "\x1b]8;;http://evil.example/')


def test_lint_json_of_bytes_that_are_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = tmp_path / "record.txt"
    record.write_bytes(b"v=TLSRPTv1;rua=mailto:a@\xff\x1b[2Jx.test\n")
    result = cli(capsys, "lint", "tlsrpt-record", f"@{record}", "--json")
    assert result.status == 1, result.err
    doc = orjson.loads(result.out)
    assert doc["text"] == "v=TLSRPTv1;rua=mailto:a@\ufffd\x1b[2Jx.test"
    assert doc["problems"][0]["code"] == "tlsrpt-character-invalid"
    human = cli(capsys, "lint", "tlsrpt-record", f"@{record}")
    assert "a@\\udcff\\x1b[2Jx.test" in human.out


def test_text_log_lines_show_control_characters_escaped() -> None:
    """serve and watch log report reasons and DNS text: a log line never
    carries a raw escape sequence or bidi override."""
    import logging

    from tlsrpt.cli.output import SafeLogFormatter

    record = logging.LogRecord(
        "tlsrpt.receiver",
        logging.INFO,
        __file__,
        1,
        "report from %s: %s",
        ("1.2.3.4", "\x1b[2J\u202eevil"),
        None,
    )
    line = SafeLogFormatter().format(record)
    assert "\x1b" not in line and "\u202e" not in line
    assert "\\x1b[2J\\u202eevil" in line
