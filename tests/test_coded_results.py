"""Problems, deviations and findings share one shape and one Severity."""

from __future__ import annotations

from tlsrpt.check.findings import Finding
from tlsrpt.check.findings import Severity as FindingSeverity
from tlsrpt.records import Problem, parse_tlsrpt_record
from tlsrpt.records import Severity as RecordSeverity
from tlsrpt.report.model import Deviation
from tlsrpt.severity import Severity


def test_one_severity_type_everywhere() -> None:
    assert RecordSeverity is Severity and FindingSeverity is Severity
    problems = parse_tlsrpt_record("v=TLSRPTv1; rua=ftp://x").problems
    assert problems and all(type(p.severity) is Severity for p in problems)


def test_the_three_share_code_severity_message_first() -> None:
    problem = Problem("tlsrpt-rua-http", Severity.WARNING, "an http: URI", 12)
    deviation = Deviation("null-value", "$.contact-info", "contact-info is null")
    legal = Deviation("result-type-unregistered", "$.x", "unregistered", violation=False)
    finding = Finding("sts-record-missing", Severity.INFO, "no record", {"name": "x"})
    common = ["code", "severity", "message"]
    for item in (problem, deviation, legal, finding):
        assert list(item.to_json())[:3] == common
    assert problem.to_json() == {
        "code": "tlsrpt-rua-http",
        "severity": "warning",
        "message": "an http: URI",
        "position": 12,
    }
    assert deviation.to_json()["severity"] == "warning" and deviation.to_json()["path"]
    assert legal.to_json()["severity"] == "info" and legal.to_json()["violation"] is False
    assert finding.to_json()["severity"] == "info" and finding.to_json()["evidence"] == {
        "name": "x"
    }
