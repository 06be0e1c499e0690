"""Reads never fail because of stored counts, and their sums stay exact
integers: one domain stored with reports at the plausibility bound, its
rows then at the most a 64-bit column holds (what 2^23 reports at the bound
leave in a roll-up row, or a store written before the bound), and every
read run over it on SQLite and PostgreSQL: the dashboard's overview and
domain page, the API's domain list, detail and daily series, `tlsrpt
summary` and `tlsrpt export daily`."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tlsrpt.analysis.alert_reports import ReadPlan
from tlsrpt.cli import main
from tlsrpt.ingest.model import RawInput, SourceInfo
from tlsrpt.ingest.pipeline import ingest, ingest_batch
from tlsrpt.report import DEFAULT_LIMITS
from tlsrpt.settings import Settings
from tlsrpt.store.alert_reads import report_data
from tlsrpt.store.domain_days import rebuild
from tlsrpt.store.engine import Store
from tlsrpt.store.gauges import domain_sessions
from tlsrpt.store.users import add_user, create_token
from tlsrpt.web.app import create_app

FILE = SourceInfo("file", "/reports/in.json")
BOUND = DEFAULT_LIMITS.max_sessions
BIGINT_MAX = 2**63 - 1
HUGE, CALM = "huge.example", "calm.example"
END = datetime.now(UTC).date() - timedelta(days=1)  # the dashboard shows periods up to today
DAYS = [END - timedelta(days=n) for n in (2, 1, 0)]
ORGS = ["Org A", "Org B", "Org C"]
TYPES = ["certificate-expired", "starttls-not-supported", "dane-required", "tlsa-invalid"]
PER_KEY = 8  # reports at the bound per domain, day and organization
PER_ROW = BIGINT_MAX // PER_KEY  # a failure row, once the roll-ups are full
PASSWORD = "correct horse battery"


def _at_bound(make: Any, report_id: str, org: str, day: date) -> bytes:
    """A report with as many sessions as the bound allows, in the summary
    and in the failure-details rows."""
    rows = [
        make.failure(t, count=BOUND // 4, ip=f"192.0.2.{k + 1}", mx="mx1.huge.example")
        for k, t in enumerate(TYPES)
    ]
    policy = make.policy(HUGE, ok=BOUND // 2, failed=BOUND // 2, failures=rows)
    return make.json(report_id, org=org, day=day.isoformat(), policies=[policy])


def _fill(store: Store) -> None:
    """The domain's counts as large as 64-bit columns let them be: its
    all-types roll-up rows at 2^63-1, and its failure rows as large as
    their result-type roll-ups (which sum them) can hold."""
    with store.write() as conn:
        conn.exec_driver_sql(
            f"UPDATE daily_rollups SET successful_sessions = {BIGINT_MAX}, "
            f"failed_sessions = {BIGINT_MAX} WHERE domain = '{HUGE}' AND result_type = ''"
        )
        conn.exec_driver_sql(
            f"UPDATE daily_rollups SET failed_sessions = {PER_KEY * PER_ROW} "
            f"WHERE domain = '{HUGE}' AND result_type <> ''"
        )
        conn.exec_driver_sql(
            f"UPDATE failure_details SET failed_session_count = {PER_ROW} WHERE domain = '{HUGE}'"
        )
        rebuild(conn, [HUGE])  # the per-domain roll-up of such a store, as its migration makes it


@pytest.fixture
def huge(store: Store, make: Any) -> Store:
    inputs = [
        _at_bound(make, f"{org}-{day}-{n}", org, day)
        for org in ORGS
        for day in DAYS
        for n in range(PER_KEY)
    ]
    inputs.append(make.json("calm", day=END.isoformat(), policies=[make.policy(CALM, ok=5)]))
    results = ingest_batch(store, [RawInput(data, FILE) for data in inputs])
    assert {r.outcome for r in results} == {"accepted"}, {r.reason for r in results}
    over = make.json("over", policies=[make.policy(HUGE, ok=BOUND // 2 + 1, failed=BOUND // 2)])
    refused = ingest(store, over, FILE)
    assert (refused.outcome, refused.reason_code) == ("quarantined", "count-implausible")
    _fill(store)
    with store.write() as conn:
        add_user(conn, "admin@example.com", PASSWORD, admin=True)
    return store


# What the reads must give, exactly (each sum well past 2^64): 9 all-types
# roll-up rows (3 days x 3 organizations) at 2^63-1, and per result type 72
# failure rows (9 roll-up rows) at PER_ROW (8 x PER_ROW).
ROLLUP_ROWS = len(DAYS) * len(ORGS)
REPORTS = ROLLUP_ROWS * PER_KEY
PER_TYPE = REPORTS * PER_ROW


def _api(store: Store) -> dict[str, Any]:
    with store.write() as conn:
        token = create_token(conn, "admin@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    period = {"days": 3, "until": END.isoformat()}
    with TestClient(create_app(Settings(), store)) as client:
        answers = {
            "list": client.get("/api/v1/domains", headers=headers, params=period),
            "detail": client.get(f"/api/v1/domains/{HUGE}", headers=headers, params=period),
            "daily": client.get(f"/api/v1/domains/{HUGE}/daily", headers=headers, params=period),
            "daily.csv": client.get(
                f"/api/v1/domains/{HUGE}/daily",
                headers=headers,
                params={**period, "format": "csv"},
            ),
        }
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 200)
    return answers


def test_api_reads_are_exact(huge: Store) -> None:
    answers = _api(huge)
    listed = {d["domain"]: d for d in json.loads(answers["list"].content)["domains"]}
    assert set(listed) == {HUGE, CALM}  # every domain, not only the one with huge counts
    assert (listed[CALM]["reports"], listed[CALM]["successful_sessions"]) == (1, 5)
    top = listed[HUGE]
    assert (top["reports"], top["successful_sessions"], top["failed_sessions"]) == (
        REPORTS,
        ROLLUP_ROWS * BIGINT_MAX,
        ROLLUP_ROWS * BIGINT_MAX,
    )
    detail = json.loads(answers["detail"].content)
    assert detail["successful_sessions"] == ROLLUP_ROWS * BIGINT_MAX
    assert {r["result_type"]: r["failed_sessions"] for r in detail["failures_by_result_type"]} == (
        dict.fromkeys(TYPES, PER_TYPE)
    )
    assert detail["failures_by_mx"] == [
        {"receiving_mx_hostname": "mx1.huge.example", "failed_sessions": 4 * PER_TYPE}
    ]
    daily = json.loads(answers["daily"].content)["daily"]
    assert [(d["day"], d["successful_sessions"]) for d in daily] == [
        (day.isoformat(), len(ORGS) * BIGINT_MAX) for day in DAYS
    ]
    rows = list(csv.DictReader(io.StringIO(answers["daily.csv"].text)))
    assert [int(r["failed_sessions"]) for r in rows] == [len(ORGS) * BIGINT_MAX] * 3


def test_dashboard_pages_render(huge: Store) -> None:
    with TestClient(create_app(Settings(), huge)) as client:
        form = client.get("/login")
        csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        login = {"email": "admin@example.com", "password": PASSWORD, "csrf": csrf, "next": "/"}
        assert client.post("/login", data=login, follow_redirects=False).status_code == 303
        overview = client.get("/", params={"days": 7})
        page = client.get(f"/domains/{HUGE}", params={"days": 7})
        export = client.get("/export/daily.csv", params={"domain": HUGE, "days": 7})
    assert overview.status_code == page.status_code == export.status_code == 200
    assert HUGE in overview.text and CALM in overview.text
    assert f"{ROLLUP_ROWS * BIGINT_MAX:,}" in overview.text
    assert f"{PER_TYPE:,}" in page.text
    assert str(len(ORGS) * BIGINT_MAX) in export.text


def test_summary_and_export_commands(
    huge: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    since, until = DAYS[0].isoformat(), END.isoformat()
    capsys.readouterr()
    assert main(["summary", "--since", since, "--until", until, "--json", "--db", db_url]) == 0
    summary = {d["domain"]: d for d in json.loads(capsys.readouterr().out)["domains"]}
    assert summary[HUGE]["successful_sessions"] == ROLLUP_ROWS * BIGINT_MAX
    assert summary[HUGE]["failures_by_result_type"] == dict.fromkeys(TYPES, PER_TYPE)
    assert summary[CALM]["successful_sessions"] == 5
    assert main(["summary", "--domain", HUGE, "--db", db_url]) == 0  # the table too
    assert f"certificate-expired {PER_TYPE:,}" in capsys.readouterr().out

    export = ["export", "daily", "--domain", HUGE, "--days", "3", "--until", until]
    assert main([*export, "--format", "json", "--db", db_url]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["failed_sessions"] for r in rows] == [len(ORGS) * BIGINT_MAX] * 3
    assert main([*export, "--db", db_url]) == 0
    assert str(len(ORGS) * BIGINT_MAX) in capsys.readouterr().out


def test_alert_and_metrics_reads_are_exact(huge: Store) -> None:
    """The report alert rules' reads and the Prometheus day gauges sum the
    same roll-up and failure rows: exact integers too, not an error."""
    plan = ReadPlan(DAYS[0], DAYS[0], DAYS[0], DAYS[0], None)
    with huge.read() as conn:
        data = report_data(conn, {HUGE: plan, CALM: plan})
        gauges = domain_sessions(conn, [END])
    assert data[HUGE].daily == {day: (len(ORGS) * BIGINT_MAX,) * 2 for day in DAYS}
    per_day = {(f.day, f.result_type, f.mx_host): f.failed_sessions for f in data[HUGE].failures}
    assert per_day == {
        (day, t, "mx1.huge.example"): len(ORGS) * PER_KEY * PER_ROW for day in DAYS for t in TYPES
    }
    assert data[CALM].daily == {END: (5, 0)}
    assert sorted(gauges) == [
        (CALM, END, 5, 0),
        (HUGE, END, len(ORGS) * BIGINT_MAX, len(ORGS) * BIGINT_MAX),
    ]
