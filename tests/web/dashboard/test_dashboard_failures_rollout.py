"""The domain page's failure groups explained with what was published on
their day, and its MTA-STS rollout steps: over reports, a watcher snapshot
and hosted policy versions stored with the store's own functions, with a
hostile failure-reason-code."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.mtasts import Change, new_version
from tlsrpt.report.model import DateRange, FailureDetail, Policy, PolicyResult, Report, Summary
from tlsrpt.report.serialize import to_json
from tlsrpt.settings import Settings
from tlsrpt.store.engine import open_store
from tlsrpt.store.hosted import publish
from tlsrpt.store.users import add_domain, add_user
from tlsrpt.store.watch import SnapshotSummary, record_snapshot
from tlsrpt.watch.snapshot import canonical, digest
from tlsrpt.web.app import create_app

ADMIN, CUSTOMER, PASSWORD = "admin@example.com", "owner@example.net", "correct horse battery"
TODAY = datetime.now(UTC).date()
HOSTED = "hosted.example"  # testing, failures at an MX the policy does not cover
CLEAN = "clean.example"  # testing, clean for 30 days: promotion allowed
PLAIN = "plain.example"  # not hosted
XSS = "\"'><script>window.__pwned=1</script>"
PUBLIC = "https://tlsrpt.example.net"


def _report(domain: str, day: date, failures: list[FailureDetail]) -> bytes:
    begins = datetime.combine(day, time(), UTC)
    policy = Policy(
        "sts",
        ["version: STSv1", "mode: testing", f"mx: *.mx.{domain}", "max_age: 86400"],
        domain,
        [f"*.mx.{domain}"],
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


def _snapshot(domain: str) -> dict[str, Any]:
    return {
        "tlsrpt": {"records": [], "status": "nodata"},
        "sts": {"records": ["v=STSv1; id=x"], "status": "ok", "id": "x"},
        "policy": {
            "url": f"https://mta-sts.{domain}/.well-known/mta-sts.txt",
            "status": 200,
            "error": None,
            "text": None,
            "mode": "testing",
            "mx": [f"*.mx.{domain}"],
            "max_age": 86400,
            "certificate": None,
        },
        "mx": [
            {
                "host": f"mx3.a.mx.{domain}",
                "preference": 10,
                "addresses": [],
                "tls": None,
                "tlsa": [],
                "tlsa_status": "nxdomain",
            }
        ],
        "findings": [],
    }


def _day(n: int) -> date:
    return TODAY - timedelta(days=n)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path: Path = tmp_path_factory.mktemp("rollout") / "db.sqlite3"
    store = open_store(f"sqlite:///{path}")
    bad = FailureDetail(
        "validation-failure",
        4,
        "192.0.2.1",
        f"mx3.a.mx.{HOSTED}",
        None,
        "198.51.100.1",
        None,
        XSS,
    )
    for n in range(1, 31):
        for domain in (HOSTED, CLEAN, PLAIN):
            failures = [bad] if domain == HOSTED and n in (2, 20) else []
            result = ingest(store, _report(domain, _day(n), failures), SourceInfo("file", "t"))
            assert result.outcome == "accepted", result
    snap = _snapshot(HOSTED)
    start = datetime.combine(_day(3), time(12), UTC)
    with store.write() as conn:
        record_snapshot(
            conn,
            HOSTED,
            canonical(snap).decode(),
            digest(snap),
            SnapshotSummary(0, 0, None),
            start,
            timedelta(days=7),
        )
        for domain in (HOSTED, CLEAN):
            change = Change("testing", (f"*.mx.{domain}",), 86400)
            moment = datetime.combine(_day(40), time(), UTC)
            publish(conn, new_version(domain, [], change, now=moment, created_by="t"))
        add_user(conn, ADMIN, PASSWORD, admin=True)
        add_user(conn, CUSTOMER, PASSWORD, admin=False)
        add_domain(conn, HOSTED, CUSTOMER)
    with TestClient(create_app(Settings(public_url=PUBLIC), store)) as client:
        yield client
    store.close()


def _login(client: TestClient, email: str) -> None:
    client.cookies.clear()
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf": token.group(1), "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def _text(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def _section(page: str, section_id: str) -> str:
    found = re.search(rf'<section id="{section_id}".*?</section>', page, re.S)
    assert found is not None, section_id
    return found.group(0)


def test_failure_groups_explained_beside_each_group(app: TestClient) -> None:
    _login(app, CUSTOMER)
    page = app.get(f"/domains/{HOSTED}", params={"days": 30}).text
    section = _section(page, "failures-explained")
    rows = re.findall(r'<tr data-code="([^"]+)" data-day="([^"]+)"', section)
    # day 20 has no check: the hosted version tells the patterns, and the page says so
    assert rows == [("mx-not-covered", str(_day(2))), ("mx-not-covered", str(_day(20)))]
    text = _text(section)
    assert (
        f"mx3.a.mx.{HOSTED} was not covered by the policy in effect on {_day(2)} "
        f"(patterns: *.mx.{HOSTED}; " in text
    )
    assert f"no check history for {_day(20)}" in text
    assert XSS not in section  # the hostile failure-reason-code is escaped
    assert "&lt;script&gt;" in section


def test_rollout_of_a_testing_domain_refused_with_reasons(app: TestClient) -> None:
    _login(app, CUSTOMER)
    section = _section(app.get(f"/domains/{HOSTED}").text, "rollout")
    assert 'data-stage="testing"' in section
    assert re.findall(r'<li data-state="([a-z]+)"', section) == [
        "current",
        "next",
        "later",
        "later",
    ]
    assert 'id="promotion" data-allowed="no"' in section
    assert 'data-check="verdict"' in section
    text = _text(section)
    assert f"tlsrpt mta-sts promote {HOSTED}" in text
    assert f'_mta-sts.{HOSTED}. IN TXT "v=STSv1; id=' in text
    assert f"_smtp._tls.{HOSTED}. IN TXT " in text and f"{PUBLIC}/v1/reports" in text
    assert f"mta-sts.{HOSTED}. IN CNAME tlsrpt.example.net." in text
    assert f"tlsrpt mta-sts rollback {HOSTED}" in text


def test_rollout_of_a_clean_testing_domain_may_be_promoted(app: TestClient) -> None:
    _login(app, ADMIN)
    section = _section(app.get(f"/domains/{CLEAN}").text, "rollout")
    assert 'id="promotion" data-allowed="yes"' in section
    assert "it publishes mode enforce, max_age 604,800 s" in _text(section)
    assert "promotion-reasons" not in section


def test_rollout_of_a_domain_not_hosted_says_init(app: TestClient) -> None:
    _login(app, ADMIN)
    section = _section(app.get(f"/domains/{PLAIN}").text, "rollout")
    assert 'data-stage="not-hosted"' in section
    assert f"tlsrpt mta-sts init {PLAIN}" in _text(section)
    assert 'id="promotion"' not in section and 'id="rollout-records"' not in section
