"""The dashboard's view of watching: the alerts page with its ack and mute
forms, the domain page's current state and history, and the overview's
alerts and certificate-expiry columns; over snapshots and alerts stored
with the store's own functions, with hostile strings in the snapshot and
alert text, and two customers who must not see each other's alerts."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tlsrpt.analysis.alert_model import Condition
from tlsrpt.settings import Settings
from tlsrpt.store.alerts import active_mutes, apply_transitions, current_alerts, get_alert
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.users import add_domain, add_user
from tlsrpt.store.watch import SnapshotSummary, record_snapshot, states
from tlsrpt.watch.lifecycle import plan
from tlsrpt.watch.snapshot import canonical, digest, earliest_not_after, severity_counts
from tlsrpt.web.app import create_app

NO_RDNS = Settings(reverse_dns=False)  # no DNS off loopback in tests

PASSWORD = "correct horse battery"
ADMIN, A, B = "admin@operator.example", "owner@customer-a.example", "owner@customer-b.example"
ALPHA, BETA = "alpha.example", "beta.example"
NOW = datetime.now(UTC).replace(microsecond=0)
XSS = "\"'><script>window.__pwned=1</script><img src=x onerror=alert(1)>"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _when(days: float) -> str:
    return f"{NOW + timedelta(days=days):%Y-%m-%dT%H:%M:%SZ}"


def _cert(host: str, days: float, serial: str) -> dict[str, Any]:
    return {
        "subject": f"CN={host}",
        "sans": [host],
        "issuer": f"CN=Lab CA {XSS}",
        "not_after": _when(days),
        "sha256": serial * 64,
    }


def snapshot(mx_days: float, extra_mx: bool) -> dict[str, Any]:
    """A snapshot of alpha.example (`tlsrpt.watch.snapshot` shape): one MX
    whose certificate has `mx_days` left, the policy host's with 200."""
    mx = [
        {
            "host": "mx1.alpha.example",
            "preference": 10,
            "addresses": ["192.0.2.10"],
            "tls": [
                {
                    "address": "192.0.2.10",
                    "starttls": True,
                    "tls_version": "TLSv1.3",
                    "error": None,
                    "certificate": _cert(
                        "mx1.alpha.example", mx_days, "a" if mx_days < 30 else "b"
                    ),
                }
            ],
            "tlsa": [],
            "tlsa_status": "nxdomain",
        }
    ]
    if extra_mx:
        mx.append(
            {
                "host": f"mx2.{XSS}",
                "preference": 20,
                "addresses": [],
                "tls": None,
                "tlsa": [],
                "tlsa_status": None,
            }
        )
    return {
        "tlsrpt": {"records": [f"v=TLSRPTv1; rua=mailto:{XSS}@alpha.example"], "status": "ok"},
        "sts": {"records": ["v=STSv1; id=20261201"], "status": "ok", "id": "20261201"},
        "policy": {
            "url": "https://mta-sts.alpha.example/.well-known/mta-sts.txt",
            "status": 200,
            "error": None,
            "text": "version: STSv1\nmode: enforce\nmx: mx1.alpha.example\nmax_age: 604800\n",
            "mode": "enforce",
            "mx": ["mx1.alpha.example", f"{XSS}.alpha.example"],
            "max_age": 604800,
            "certificate": _cert("mta-sts.alpha.example", 200, "c"),
        },
        "mx": mx,
        "findings": [
            {
                "code": "mx-certificate-expiring",
                "severity": "warning",
                "subject": "mx1.alpha.example",
                "message": f"the certificate expires soon {XSS}",
            }
        ],
    }


def _record(store: Store, domain: str, snap: dict[str, Any], at: datetime) -> None:
    counts = severity_counts(snap)
    summary = SnapshotSummary(counts["error"], counts["warning"], earliest_not_after(snap))
    with store.write() as conn:
        record_snapshot(
            conn, domain, canonical(snap).decode(), digest(snap), summary, at, timedelta(days=1)
        )


def _evaluate(store: Store, domain: str, conditions: list[Condition], at: datetime) -> None:
    with store.write() as conn:
        current = current_alerts(conn, [domain])[domain]
        apply_transitions(conn, domain, plan(current, conditions, {}, at, timedelta(0)), at)


EXPIRING = Condition(
    "mx-certificate-expiring", "mx1.alpha.example", "warning", f"alpha expiring {XSS}", "e", "renew"
)
SILENT = Condition("reporter-silent", "Google", "warning", "alpha-resolved-summary", "e", None)
OLD = Condition("reports-missing", "", "warning", "alpha-long-resolved-summary", "e", None)
BETA_ALERT = Condition("tlsrpt-record-missing", "", "error", "beta-only-summary", "e", "publish")


@dataclass
class World:
    store: Store


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    path: Path = tmp_path_factory.mktemp("watchpages") / "watch.sqlite3"
    store = open_store(f"sqlite:///{path}")
    with store.write() as conn:
        add_user(conn, ADMIN, PASSWORD, admin=True)
        add_user(conn, A, PASSWORD, admin=False)
        add_user(conn, B, PASSWORD, admin=False)
        add_domain(conn, ALPHA, A)
        add_domain(conn, BETA, B)
    # alpha: a first check, then a renewed-looking change (mx2 added,
    # the MX certificate now 12 days from expiry)
    _record(store, ALPHA, snapshot(100, extra_mx=False), NOW - timedelta(days=3))
    _record(store, ALPHA, snapshot(12, extra_mx=True), NOW - timedelta(hours=1))
    _evaluate(store, ALPHA, [OLD], NOW - timedelta(days=40))
    _evaluate(store, ALPHA, [], NOW - timedelta(days=35))  # resolved too long ago to show
    _evaluate(store, ALPHA, [EXPIRING, SILENT], NOW - timedelta(days=2))
    _evaluate(store, ALPHA, [EXPIRING], NOW - timedelta(days=1))  # SILENT resolves
    _evaluate(store, BETA, [BETA_ALERT], NOW - timedelta(days=1))
    yield World(store)
    store.close()


def login(client: TestClient, email: str) -> str:
    """Log in; the session's CSRF token (from the logout form)."""
    token = CSRF.search(client.get("/login").text)
    assert token is not None
    answer = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf": token.group(1), "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    session_token = CSRF.search(client.get("/alerts").text)
    assert session_token is not None
    return session_token.group(1)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(NO_RDNS, world.store)) as c:
        yield c


def _alert_id(store: Store, summary: str) -> int:
    with store.read() as conn:
        for domain in (ALPHA, BETA):
            for state in current_alerts(conn, [domain])[domain]:
                if state.summary.startswith(summary):
                    return state.id
    raise AssertionError(summary)


def _table(html: str, table_id: str) -> str:
    start = html.index(f'<table id="{table_id}"')
    return html[start : html.index("</table>", start)]


def _assert_escaped(html: str) -> None:
    assert "<script>window.__pwned" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html


def test_alerts_page_firing_first_then_resolved(client: TestClient) -> None:
    login(client, A)
    page = client.get("/alerts")
    assert page.status_code == 200
    firing = _table(page.text, "alerts-firing")
    resolved = _table(page.text, "alerts-resolved")
    assert "alpha expiring" in firing and "mx-certificate-expiring" in firing
    assert "alpha-resolved-summary" in resolved and "alpha-resolved-summary" not in firing
    assert page.text.index("alerts-firing") < page.text.index("alerts-resolved")
    assert "alpha-long-resolved-summary" not in page.text  # resolved 35 days ago
    assert 'href="/alerts"' in page.text  # the nav link
    _assert_escaped(page.text)
    narrowed = client.get("/alerts", params={"domain": ALPHA})
    assert narrowed.status_code == 200 and "alpha expiring" in narrowed.text


def test_customer_a_sees_none_of_b_s_alerts(client: TestClient, world: World) -> None:
    token = login(client, A)
    page = client.get("/alerts")
    assert "beta" not in page.text
    assert client.get("/alerts", params={"domain": BETA}).status_code == 404
    beta_id = _alert_id(world.store, "beta-only-summary")
    for action in ("ack", "mute"):
        answer = client.post(f"/alerts/{beta_id}/{action}", data={"csrf": token})
        assert answer.status_code == 404, action
    with world.store.read() as conn:
        assert get_alert(conn, beta_id)["acked_at"] is None  # type: ignore[index]
        assert BETA not in active_mutes(conn, [BETA], NOW)
    assert client.post("/alerts/999999/ack", data={"csrf": token}).status_code == 404


def test_admin_sees_every_alert(client: TestClient) -> None:
    login(client, ADMIN)
    text = client.get("/alerts").text
    assert "beta-only-summary" in text and "alpha expiring" in text


def test_ack_needs_the_csrf_token_and_marks_the_alert(client: TestClient, world: World) -> None:
    token = login(client, A)
    alert_id = _alert_id(world.store, "alpha expiring")
    for data in ({}, {"csrf": "forged"}):
        answer = client.post(f"/alerts/{alert_id}/ack", data=data, follow_redirects=False)
        assert answer.status_code == 403
    with world.store.read() as conn:
        assert get_alert(conn, alert_id)["acked_at"] is None  # type: ignore[index]
    answer = client.post(
        f"/alerts/{alert_id}/ack",
        params={"domain": ALPHA},
        data={"csrf": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/alerts?domain={ALPHA}"
    with world.store.read() as conn:
        assert get_alert(conn, alert_id)["acked_at"] is not None  # type: ignore[index]
    row = _table(client.get("/alerts").text, "alerts-firing")
    assert "acknowledged" in row and f"/alerts/{alert_id}/ack" not in row


def test_mute_needs_the_csrf_token_and_mutes_the_rule(client: TestClient, world: World) -> None:
    token = login(client, A)
    alert_id = _alert_id(world.store, "alpha expiring")
    answer = client.post(f"/alerts/{alert_id}/mute", data={}, follow_redirects=False)
    assert answer.status_code == 403
    with world.store.read() as conn:
        assert ALPHA not in active_mutes(conn, [ALPHA], datetime.now(UTC))
    answer = client.post(f"/alerts/{alert_id}/mute", data={"csrf": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/alerts"
    with world.store.read() as conn:
        until = active_mutes(conn, [ALPHA], datetime.now(UTC))[ALPHA]["mx-certificate-expiring"]
    assert timedelta(days=6, hours=23) < until - datetime.now(UTC) <= timedelta(days=7)
    row = _table(client.get("/alerts").text, "alerts-firing")
    assert "muted until" in row and f"/alerts/{alert_id}/mute" not in row


def test_the_forms_carry_the_session_token(client: TestClient, world: World) -> None:
    token = login(client, B)
    html = client.get("/alerts").text
    beta_id = _alert_id(world.store, "beta-only-summary")
    form = re.search(rf'action="/alerts/{beta_id}/ack[^"]*">(.*?)</form>', html)
    assert form is not None and f'value="{token}"' in form.group(1)


def test_domain_page_current_state_and_history(client: TestClient) -> None:
    login(client, A)
    page = client.get(f"/domains/{ALPHA}")
    assert page.status_code == 200
    html = page.text
    state = html[html.index('id="current-state"') : html.index('id="history"')]
    assert "v=TLSRPTv1; rua=mailto:" in state and "v=STSv1; id=20261201" in state
    assert "mode <strong>enforce</strong>" in state and "604,800" in state
    certificates = _table(html, "certificates")
    mx_row = certificates[certificates.index('data-host="mx1.alpha.example"') :]
    assert _when(12) in mx_row
    assert re.search(r'data-field="days-left"><span class="expiry-soon">1[12] days<', mx_row)
    policy_row = certificates[certificates.index('data-host="policy"') :]
    assert re.search(r'<span class="expiry-ok">(199|200) days<', policy_row)
    assert "not probed" in certificates  # mx2: no TLS probe
    assert "1 firing alert" in state
    history = html[html.index('id="history"') :]
    kinds = re.findall(r'<li data-kind="([^"]+)">', history)
    assert "mx-added" in kinds and kinds[-1] == "first-check"
    _assert_escaped(html)


def test_domain_page_without_a_check(client: TestClient) -> None:
    login(client, B)
    html = client.get(f"/domains/{BETA}").text
    assert 'id="not-checked"' in html and "No changes recorded yet." in html


def test_overview_alert_and_expiry_columns(client: TestClient) -> None:
    login(client, ADMIN)
    html = client.get("/").text
    alpha = html[html.index(f'<tr data-domain="{ALPHA}">') :]
    alpha = alpha[: alpha.index("</tr>")]
    assert f'href="/alerts?domain={ALPHA}">1</a>' in alpha
    assert re.search(r'data-field="expiry"><span class="expiry-soon">1[12] days</span>', alpha)
    beta = html[html.index(f'<tr data-domain="{BETA}">') :]
    beta = beta[: beta.index("</tr>")]
    assert f'href="/alerts?domain={BETA}">1</a>' in beta
    assert "not checked" in beta


def test_snapshot_json_holds_the_hostile_strings(world: World) -> None:
    """The escaping tests above are meaningful: the stored data is hostile."""
    with world.store.read() as conn:
        text = states(conn, ALPHA, 1)[0].snapshot
    assert "<script>window.__pwned=1</script>" in orjson.loads(text)["tlsrpt"]["records"][0]


# --- in a real browser --------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[3] / "test-artifacts" / "dashboard"


@pytest.fixture(scope="module")
def live(
    world: World, serve_store: Callable[[Store], contextlib.AbstractContextManager[str]]
) -> Iterator[str]:
    """A real uvicorn server over the world's store, on a loopback port."""
    with serve_store(world.store) as url:
        yield url


def test_in_a_browser_nothing_runs_and_the_forms_work_without_script(
    live: str, world: World
) -> None:
    """Chromium (no JavaScript of ours: the CSP forbids any) shows the pages
    with the hostile snapshot and alert text as text, and the ack button,
    a plain form, acknowledges the alert."""
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the test extra's playwright")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        dialogs: list[str] = []
        console: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: console.append(m.text))
        page.goto(f"{live}/login")
        page.fill("#email", A)
        page.fill("#password", PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url(f"{live}/")
        for name, path in (
            ("overview", "/"),
            ("domain", f"/domains/{ALPHA}"),
            ("alerts", "/alerts"),
        ):
            answer = page.goto(live + path)
            assert answer is not None and answer.status == 200, name
            assert page.evaluate("() => window.__pwned === undefined")
            assert (
                page.evaluate("() => document.querySelectorAll('script, img:not(.spark)').length")
                == 0
            )
            page.screenshot(path=str(ARTIFACTS / f"watch-{name}.png"), full_page=True)
        page.goto(f"{live}/domains/{ALPHA}")
        assert XSS in page.locator("#records").inner_text()
        page.goto(f"{live}/alerts")
        alert_id = _alert_id(world.store, "alpha expiring")
        acked_before = _acked(world.store, alert_id)
        button = page.locator(f"form[action^='/alerts/{alert_id}/ack'] button")
        if acked_before is None:  # not acknowledged by an earlier test of this module
            button.click()
            page.wait_for_url(f"{live}/alerts")
            assert _acked(world.store, alert_id) is not None
        assert "acknowledged" in page.locator(f"tr[data-alert='{alert_id}']").inner_text()
        assert dialogs == []
        assert not [m for m in console if "Content Security Policy" in m]
        browser.close()


def _acked(store: Store, alert_id: int) -> str | None:
    with store.read() as conn:
        alert = get_alert(conn, alert_id)
    assert alert is not None
    return alert["acked_at"]  # type: ignore[no-any-return]
