"""Every report in ../shared/corpus parses; real ones leniently with the
right organization and session counts, computed independently here."""

from __future__ import annotations

import email
import email.policy
import gzip
import json
from pathlib import Path

import pytest

from tlsrpt.report import ReportError, parse_input

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")


def _files(sub: str) -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        p for p in (CORPUS / sub).rglob("*") if p.is_file() and p.suffix in {".json", ".gz", ".eml"}
    )


def _independent_reports(path: Path) -> list[dict]:
    """Decode with the standard library only, no tlsrpt code."""
    data = path.read_bytes()
    if path.suffix == ".eml":
        msg = email.message_from_bytes(data, policy=email.policy.default)
        out = []
        for part in msg.walk():
            if part.get_content_type().startswith("application/tlsrpt") or (
                part.get_filename() or ""
            ).endswith((".json", ".json.gz")):
                raw = part.get_payload(decode=True)
                out.append(json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw))
        return out
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [json.loads(data)]


def _count(doc: dict, key: str) -> int:
    return sum(int(p["summary"].get(key, 0)) for p in doc["policies"])


REAL_ORGS = {
    "Google Inc.",
    "Microsoft Corporation",
    "Mail.ru",
    "refluxstop.de",
    "mx.egressif.io",
    "sonne.floppy.org",
}


@pytest.mark.parametrize("path", _files("real"), ids=lambda p: p.name)
def test_real_report_accepted_leniently(path):
    result = parse_input(path.read_bytes())
    assert result.errors == []
    expected = _independent_reports(path)
    assert len(result.reports) == len(expected) >= 1
    for parsed, doc in zip(result.reports, expected, strict=True):
        r = parsed.report
        assert r.organization_name == doc["organization-name"]
        assert r.organization_name in REAL_ORGS
        assert r.successful_sessions == _count(doc, "total-successful-session-count")
        assert r.failed_sessions == _count(doc, "total-failure-session-count")
        assert r.report_id == doc["report-id"]


@pytest.mark.parametrize("path", _files("synthetic"), ids=lambda p: p.name)
def test_synthetic_report_parses_or_fails_cleanly(path):
    """Synthetic samples include deliberate junk (a cron mail): only
    ReportError may come out, and any report read must match the JSON."""
    try:
        result = parse_input(path.read_bytes())
    except ReportError as exc:
        assert exc.code == "no-report-in-message"
        return
    for parsed, doc in zip(result.reports, _independent_reports(path), strict=True):
        assert parsed.report.organization_name == doc["organization-name"]
        assert parsed.report.failed_sessions == _count(doc, "total-failure-session-count")
