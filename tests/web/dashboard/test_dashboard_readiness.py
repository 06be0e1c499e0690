"""Health and readiness side by side on the dashboard: a legend on the
overview and the domain page, the reason beside every verdict that is not
`ready` (so "healthy" and "not-ready" in one row are never unexplained),
and the same verdict whatever period is shown."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.report.model import DateRange, FailureDetail, Policy, PolicyResult, Report, Summary
from tlsrpt.report.serialize import to_json
from tlsrpt.settings import Settings
from tlsrpt.store.engine import open_store
from tlsrpt.store.users import add_user
from tlsrpt.web.app import create_app

NO_RDNS = Settings(reverse_dns=False)  # no DNS off loopback in tests

ADMIN, PASSWORD = "admin@example.com", "correct horse battery"
TODAY = datetime.now(UTC).date()
BLOCKED = "blocked.example"  # healthy (one failure in 300,000) yet not ready
CLEAN = "clean.example"


def _report(domain: str, day: date, failures: list[FailureDetail]) -> bytes:
    begins = datetime.combine(day, time(), UTC)
    policy = Policy(
        "sts",
        ["version: STSv1", "mode: testing", f"mx: mx1.{domain}", "max_age: 604800"],
        domain,
        [f"mx1.{domain}"],
    )
    failed = sum(f.failed_session_count for f in failures)
    report = Report(
        organization_name="Google Inc.",
        date_range=DateRange(begins, begins + timedelta(days=1, seconds=-1)),
        contact_info="smtp-tls-reporting@google.com",
        report_id=f"{day}_{domain}",
        policies=[PolicyResult(policy, Summary(10_000, failed), failures)],
    )
    return to_json(report)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path: Path = tmp_path_factory.mktemp("readiness") / "db.sqlite3"
    store = open_store(f"sqlite:///{path}")
    for n in range(1, 31):
        day = TODAY - timedelta(days=n)
        expired = [
            FailureDetail(
                "certificate-expired", 1, "192.0.2.1", f"mx1.{BLOCKED}", None, "198.51.100.1"
            )
        ]
        for domain in (BLOCKED, CLEAN):
            failures = expired if domain == BLOCKED and n == 2 else []
            result = ingest(store, _report(domain, day, failures), SourceInfo("file", "t"))
            assert result.outcome == "accepted", result
    with store.write() as conn:
        add_user(conn, ADMIN, PASSWORD, admin=True)
    with TestClient(create_app(NO_RDNS, store)) as test_client:
        form = test_client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        test_client.post(
            "/login",
            data={"email": ADMIN, "password": PASSWORD, "csrf": token.group(1), "next": "/"},
        )
        yield test_client
    store.close()


def _row(page: str, domain: str) -> str:
    found = re.search(rf'<tr data-domain="{re.escape(domain)}">(.*?)</tr>', page, re.S)
    assert found is not None, domain
    return found.group(1)


def _text(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


@pytest.mark.parametrize("days", [7, 30, 90])
def test_a_healthy_domain_that_is_not_ready_shows_why(client: TestClient, days: int) -> None:
    page = client.get("/", params={"days": days}).text
    row = _row(page, BLOCKED)
    assert "health-healthy" in row and "verdict-not-ready" in row
    reason = re.search(r'data-field="reason">(.*?)</small>', row, re.S)
    assert reason is not None
    assert _text(reason.group(1)) == (
        "last failure that enforce would have turned into lost mail on "
        f"{TODAY - timedelta(days=2)}: certificate-expired (MX: mx1.blocked.example); "
        "1 clean day since, 14 needed"
    )
    clean = _row(page, CLEAN)
    assert "health-healthy" in clean and "verdict-ready" in clean
    assert f"clean since {TODAY - timedelta(days=30)}" in _text(clean)
    legend = re.search(r'<section class="legend" id="legend".*?</section>', page, re.S)
    assert legend is not None
    text = _text(legend.group(0))
    assert "Health" in text and "MTA-STS enforce" in text
    assert "It does not change with the period shown" in text
    assert f"How the last {days} days went" in text


def test_the_domain_page_explains_the_verdict_the_same_under_every_period(
    client: TestClient,
) -> None:
    sections = []
    for days in (7, 30, 60, 90):
        page = client.get(f"/domains/{BLOCKED}", params={"days": days}).text
        assert 'id="legend"' in page
        section = re.search(r'<section id="readiness".*?<section class="legend"', page, re.S)
        assert section is not None
        sections.append(section.group(0))
        assert 'class="badge verdict-not-ready"' in section.group(0)
        assert 'data-field="health">healthy' in page
    assert len(set(sections)) == 1  # not a character differs
    text = _text(sections[0])
    assert f"Clean since {TODAY - timedelta(days=1)}" in text
    assert "1 day to go" not in text and "13 days to go" in text
    assert "certificate-expired (MX: mx1.blocked.example)" in text
    # The policy to publish once ready, from the MX patterns senders reported.
    assert "mode: enforce\nmx: mx1.blocked.example\nmax_age: 604800" in html_lib.unescape(
        sections[0]
    )
    assert f'_mta-sts.{BLOCKED}. IN TXT "v=STSv1; id={TODAY:%Y%m%d}enforce"' in html_lib.unescape(
        sections[0]
    )
