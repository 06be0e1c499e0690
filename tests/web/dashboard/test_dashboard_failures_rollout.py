"""The domain page's failure groups explained with what was published on
their day, and its MTA-STS rollout steps with the admin's promote and
rollback buttons: over the demo data (conftest's
`site`, with its hostile report), one watcher snapshot of mail.example.org
(whose backup MX the policy does not cover) and hosted policy versions,
stored with the store's own functions."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tlsrpt.mtasts import Change, new_version
from tlsrpt.settings import Settings
from tlsrpt.store.hosted import history as hosted_history
from tlsrpt.store.hosted import publish
from tlsrpt.store.watch import SnapshotSummary, record_snapshot
from tlsrpt.watch.snapshot import canonical, digest
from tlsrpt.web.app import create_app
from tlsrpt.web.segments import segment

ADMIN, CUSTOMER, PASSWORD = "admin@example.com", "customer@example.net", "correct horse battery"
MAIL = "mail.example.org"  # failures at mx-backup.hosting.example, outside its policy
PUBLIC = "https://tlsrpt.example.net"


def _snapshot() -> dict[str, Any]:
    return {
        "tlsrpt": {"records": [], "status": "nodata"},
        "sts": {"records": ["v=STSv1; id=x"], "status": "ok", "id": "x"},
        "policy": {
            "url": f"https://mta-sts.{MAIL}/.well-known/mta-sts.txt",
            "status": 200,
            "error": None,
            "text": None,
            "mode": "testing",
            "mx": [f"mx1.{MAIL}", f"mx2.{MAIL}"],
            "max_age": 86400,
            "certificate": None,
        },
        "mx": [
            {
                "host": host,
                "preference": 10,
                "addresses": [],
                "tls": None,
                "tlsa": [],
                "tlsa_status": "nxdomain",
            }
            for host in (f"mx1.{MAIL}", "mx-backup.hosting.example")
        ],
        "findings": [],
    }


@pytest.fixture(scope="module")
def app(site: Any) -> Iterator[TestClient]:
    snap = _snapshot()
    checked = datetime.combine(site.end - timedelta(days=30), time(12), UTC)
    hosted_at = datetime.combine(site.end - timedelta(days=50), time(), UTC)
    with site.store.write() as conn:
        record_snapshot(
            conn,
            MAIL,
            canonical(snap).decode(),
            digest(snap),
            SnapshotSummary(0, 0, None),
            checked,
            timedelta(days=7),
        )
        for domain in ("shop.example.net", "example.com"):
            change = Change("testing", (f"mx1.{domain}", f"mx2.{domain}"), 86400)
            publish(conn, new_version(domain, [], change, now=hosted_at, created_by="t"))
    with TestClient(create_app(Settings(public_url=PUBLIC), site.store)) as client:
        yield client


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


def _row(section: str, day: date) -> str:
    found = re.search(rf'<tr data-code="[^"]+" data-day="{day}".*?</tr>', section, re.S)
    assert found is not None, day
    return found.group(0)


def test_failure_groups_explained_beside_each_group(app: TestClient, site: Any) -> None:
    _login(app, ADMIN)
    section = _section(app.get(f"/domains/{MAIL}", params={"days": 60}).text, "failures-explained")
    checked_day = site.end - timedelta(days=30)
    row = _row(section, checked_day)
    assert 'data-code="mx-not-covered"' in row
    assert (
        f"mx-backup.hosting.example was not covered by the policy in effect on {checked_day} "
        f"(patterns: mx1.{MAIL}, mx2.{MAIL}; " in _text(row)
    )
    assert "mx not covered by policy" in _text(row)  # the failure-reason-code
    # Before the check, and once it is more than two days old: no history.
    for day in (site.end - timedelta(days=40), site.end - timedelta(days=27)):
        row = _row(section, day)
        assert 'data-code="no-check-history"' in row
        assert f"no check history for {day}" in _text(row)


def test_hostile_report_text_in_the_explanations_is_escaped(app: TestClient, site: Any) -> None:
    _login(app, ADMIN)
    page = app.get(f"/domains/{segment(site.hostile_domain)}").text
    section = _section(page, "failures-explained")
    assert "<script>" not in section and "<img" not in section
    assert "&lt;script&gt;window.__pwned=" in section


def test_rollout_of_a_testing_domain_refused_with_reasons(app: TestClient) -> None:
    _login(app, CUSTOMER)
    section = _section(app.get("/domains/shop.example.net").text, "rollout")
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
    assert "tlsrpt mta-sts promote shop.example.net" in text
    assert '_mta-sts.shop.example.net. IN TXT "v=STSv1; id=' in text
    assert "_smtp._tls.shop.example.net. IN TXT " in text and f"{PUBLIC}/v1/reports" in text
    assert "mta-sts.shop.example.net. IN CNAME tlsrpt.example.net." in text
    assert "tlsrpt mta-sts rollback shop.example.net" in text


def test_rollout_of_a_ready_testing_domain_may_be_promoted(app: TestClient) -> None:
    _login(app, ADMIN)
    section = _section(app.get("/domains/example.com").text, "rollout")
    assert 'id="promotion" data-allowed="yes"' in section
    assert "it publishes mode enforce, max_age 604,800 s" in _text(section)
    assert "promotion-reasons" not in section


def test_rollout_of_a_domain_not_hosted_says_init(app: TestClient) -> None:
    _login(app, ADMIN)
    section = _section(app.get("/domains/legacy.example.de").text, "rollout")
    assert 'data-stage="not-hosted"' in section
    assert "tlsrpt mta-sts init legacy.example.de" in _text(section)
    assert 'id="promotion"' not in section and 'id="rollout-records"' not in section


# --- the admin's promote and rollback buttons -----------------------------------


def _csrf(client: TestClient) -> str:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
    assert token is not None
    return token.group(1)


def _host(site: Any, domain: str) -> None:
    change = Change("testing", (f"mx1.{domain}", f"mx2.{domain}"), 86400)
    at = datetime.now(UTC) - timedelta(hours=1)  # after every report: explanations unchanged
    with site.store.write() as conn:
        publish(conn, new_version(domain, [], change, now=at, created_by="t"))


def _versions(site: Any, domain: str) -> list[Any]:
    with site.store.read() as conn:
        return hosted_history(conn, domain)


def test_only_an_admin_with_the_token_takes_a_step(app: TestClient, site: Any) -> None:
    _login(app, CUSTOMER)
    page = app.get("/domains/shop.example.net").text
    assert 'id="promote-form"' not in page and 'id="rollback-form"' not in page
    form = {"domain": "shop.example.net", "csrf": _csrf(app), "confirm": "yes"}
    for path in ("/rollout/promote", "/rollout/rollback"):
        answer = app.post(path, data=form, follow_redirects=False)
        assert answer.status_code == 403
    _login(app, ADMIN)
    answer = app.post(
        "/rollout/rollback",
        data={"domain": "shop.example.net", "confirm": "yes"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    answer = app.post(
        "/rollout/promote",
        data={"domain": "legacy.example.de", "csrf": _csrf(app)},
        follow_redirects=False,
    )
    assert answer.status_code == 404  # not hosted
    assert [v.mode for v in _versions(site, "shop.example.net")] == ["testing"]


def test_admin_promotes_a_ready_domain_and_rolls_it_back(app: TestClient, site: Any) -> None:
    _host(site, MAIL)
    _login(app, ADMIN)
    page = app.get(f"/domains/{MAIL}").text
    assert 'id="promote-form"' in page
    token = _csrf(app)
    answer = app.post(
        "/rollout/promote", data={"domain": MAIL, "csrf": token}, follow_redirects=False
    )
    assert (answer.status_code, answer.headers["location"]) == (303, f"/domains/{MAIL}#rollout")
    versions = _versions(site, MAIL)
    assert [(v.mode, v.max_age) for v in versions] == [("testing", 86400), ("enforce", 604800)]
    assert versions[-1].created_by == "dashboard: admin@example.com"
    section = _section(app.get(f"/domains/{MAIL}").text, "rollout")
    assert 'data-stage="enforce"' in section and 'id="promote-form"' not in section
    assert 'data-check="hold"' in section  # the next step waits 14 days

    # A rollback needs its box ticked.
    app.post("/rollout/rollback", data={"domain": MAIL, "csrf": token})
    assert len(_versions(site, MAIL)) == 2
    app.post("/rollout/rollback", data={"domain": MAIL, "csrf": token, "confirm": "yes"})
    versions = _versions(site, MAIL)
    assert (versions[-1].mode, versions[-1].max_age) == ("none", 604800)
    section = _section(app.get(f"/domains/{MAIL}").text, "rollout")
    assert 'data-stage="rolled-back"' in section and 'id="rollback-form"' not in section
    assert "Keep serving it and the _mta-sts record until" in _text(section)


def test_a_promotion_the_reports_refuse_stores_nothing(app: TestClient, site: Any) -> None:
    _host(site, "new.example.io")  # a few days of reports: insufficient data
    _login(app, ADMIN)
    section = _section(app.get("/domains/new.example.io").text, "rollout")
    assert 'id="promote-form"' not in section
    answer = app.post(
        "/rollout/promote",
        data={"domain": "new.example.io", "csrf": _csrf(app)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert [v.mode for v in _versions(site, "new.example.io")] == ["testing"]
