"""`tlsrpt summary --json` equals an independent sum over the corpus JSON.

The independent side reads the files with the standard library only (json,
gzip, email) and applies the documented rules itself: a report is counted
once per (organization, report-id, start) — the first in import order wins
(RFC 8460 §5.3; docs/conformance.md#de-duplication) —, per policy domain it names (else the
TLS-Report-Domain header), in the UTC day holding the middle of its date range.
"""

from __future__ import annotations

import email
import email.policy
import gzip
import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tlsrpt.cli import main
from tlsrpt.receive.files import discover

CORPUS = Path("/work/shared/corpus")
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus not present")


def _json_payloads(path: Path) -> list[tuple[dict[str, Any], str | None]]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        return [(json.loads(gzip.decompress(data)), None)]
    if data.lstrip()[:1] == b"{":
        return [(json.loads(data), None)]
    msg = email.message_from_bytes(data, policy=email.policy.default)
    header = msg.get("TLS-Report-Domain")
    found = []
    for part in msg.walk():
        name = (part.get_filename() or "").lower()
        ctype = part.get_content_type()
        if not (name.endswith((".json", ".gz")) or "tlsrpt" in ctype):
            continue
        body = part.get_payload(decode=True)
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        found.append((json.loads(body), str(header).strip().lower() if header else None))
    return found


def _when(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _day(report: dict[str, Any]) -> date:
    start = _when(report["date-range"]["start-datetime"])
    end = _when(report["date-range"]["end-datetime"])
    if end.second == 59:
        end += timedelta(seconds=1)
    return (start + (end - start) / 2).date()


def independent_summary(
    paths: list[Path], since: date | None = None, until: date | None = None
) -> dict[str | None, dict[str, Any]]:
    seen: set[tuple[str, str, datetime]] = set()
    out: dict[str | None, dict[str, Any]] = {}
    orgs: dict[str | None, set[str]] = defaultdict(set)
    for path in paths:
        for report, header in _json_payloads(path):
            org = " ".join(report["organization-name"].split())
            key = (
                org.casefold(),
                str(report["report-id"]),
                _when(report["date-range"]["start-datetime"]),
            )
            if key in seen:
                continue
            seen.add(key)
            day = _day(report)
            if (since and day < since) or (until and day > until):
                continue
            counted: set[str | None] = set()
            for policy in report["policies"]:
                domain = (policy["policy"].get("policy-domain") or header or "").rstrip(
                    "."
                ).lower() or None
                entry = out.setdefault(
                    domain,
                    {
                        "reports": 0,
                        "successful_sessions": 0,
                        "failed_sessions": 0,
                        "failures_by_result_type": defaultdict(int),
                    },
                )
                if domain not in counted:
                    counted.add(domain)
                    entry["reports"] += 1
                orgs[domain].add(org)
                entry["successful_sessions"] += int(
                    policy["summary"].get("total-successful-session-count", 0)
                )
                entry["failed_sessions"] += int(
                    policy["summary"].get("total-failure-session-count", 0)
                )
                for detail in policy.get("failure-details") or []:
                    entry["failures_by_result_type"][detail["result-type"]] += int(
                        detail["failed-session-count"]
                    )
    for domain, entry in out.items():
        entry["organizations"] = len(orgs[domain])
        entry["failures_by_result_type"] = dict(entry["failures_by_result_type"])
        total = entry["successful_sessions"] + entry["failed_sessions"]
        entry["failure_rate"] = entry["failed_sessions"] / total if total else None
    return out


def _cli_summary(
    capsys: pytest.CaptureFixture[str], *args: str
) -> dict[str | None, dict[str, Any]]:
    capsys.readouterr()
    assert main(["summary", "--json", *args]) == 0
    document = orjson.loads(capsys.readouterr().out)
    assert list(document) == ["domains"]
    contract = {
        "domain",
        "reports",
        "organizations",
        "successful_sessions",
        "failed_sessions",
        "failure_rate",
        "failures_by_result_type",
    }
    out = {}
    for entry in document["domains"]:
        assert contract <= set(entry)
        out[entry["domain"]] = {k: entry[k] for k in contract - {"domain"}}
    return out


@pytest.fixture
def corpus_db(db_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["import", str(CORPUS), "--db", db_url, "--json"]) == 1  # one mail has no report
    totals = orjson.loads(capsys.readouterr().out)
    assert totals["quarantined"] == 1
    assert totals["accepted"] > 25
    return db_url


def test_summary_equals_an_independent_sum_over_the_corpus(
    corpus_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    entries, _ = discover([CORPUS])
    expected = independent_summary([e.path for e in entries])
    assert _cli_summary(capsys, "--db", corpus_db) == expected


def test_summary_filters_by_domain_and_days(
    corpus_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    entries, _ = discover([CORPUS])
    paths = [e.path for e in entries]
    since, until = date(2024, 1, 1), date(2024, 12, 31)
    expected = independent_summary(paths, since, until)
    assert expected  # the corpus has reports on both sides of the window
    assert expected != independent_summary(paths)
    got = _cli_summary(capsys, "--db", corpus_db, "--since", "2024-01-01", "--until", "2024-12-31")
    assert got == expected
    assert _cli_summary(capsys, "--db", corpus_db, "--domain", "EXAMPLE.com.") == {
        "example.com": independent_summary(paths)["example.com"]
    }
