"""`tlsrpt demo`: the generated dataset goes through the real pipeline, with
the stories the README tells, and never into a database with reports."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pytest

from tlsrpt.cli import main
from tlsrpt.demo import DEMO_DOMAINS, demo_reports
from tlsrpt.report import parse_input
from tlsrpt.report.serialize import to_json


def test_demo_fills_then_refuses(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    db = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    args = ["demo", "--db", db, "--days", "30", "--end", "2026-11-28", "--json"]
    assert main(args) == 0
    out = orjson.loads(capsysbinary.readouterr().out)
    assert out["accepted"] == len(demo_reports(date(2026, 11, 28), 30))
    assert out["quarantined"] == 1
    assert out["domains"] == list(DEMO_DOMAINS)
    assert main(args) == 2
    assert b"already holds reports" in capsysbinary.readouterr().err
    assert main([*args, "--force"]) == 0
    assert orjson.loads(capsysbinary.readouterr().out)["duplicate"] == out["accepted"]


def test_demo_reports_are_valid_rfc_8460() -> None:
    for report in demo_reports(date(2026, 11, 28), 60)[::37]:
        parsed = parse_input(to_json(report), strict=True)
        assert parsed.reports[0].report == report


def test_demo_stories() -> None:
    reports = demo_reports(date(2026, 11, 28), 60)
    by_domain: dict[str, set[str]] = {}
    for report in reports:
        for p in report.policies:
            types = by_domain.setdefault(p.policy.policy_domain or "", set())
            types.update(f.result_type for f in p.failure_details)
    assert by_domain["example.com"] == set()
    assert {"certificate-expired", "starttls-not-supported"} <= by_domain["shop.example.net"]
    assert by_domain["mail.example.org"] == {"validation-failure"}
    new = {
        r.date_range.start_datetime.date()
        for r in reports
        if r.policies[0].policy.policy_domain == "new.example.io"
    }
    assert len(new) == 6
