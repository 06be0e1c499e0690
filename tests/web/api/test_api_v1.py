"""The JSON API: authentication, per-customer visibility, and numbers equal
to an independent computation over the generated reports."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from tlsrpt.demo import DEMO_DOMAINS, demo_reports
from tlsrpt.report.serialize import to_json

# As in conftest.py's `world`: the demo dataset up to END.
END = date(2026, 11, 28)
DAYS = 60

REPORTS = demo_reports(END, DAYS)


def expected_totals(days: int) -> dict[str, dict[str, int]]:
    """Per domain over the last `days` days up to END, straight from the
    report objects (not from the store)."""
    start = END - timedelta(days=days - 1)
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for report in REPORTS:
        day = report.date_range.start_datetime.date()
        if not start <= day <= END:
            continue
        for p in report.policies:
            totals = out[p.policy.policy_domain or ""]
            totals["reports"] += 1
            totals["successful"] += p.summary.total_successful_session_count
            totals["failed"] += p.summary.total_failure_session_count
            for f in p.failure_details:
                totals[f"type:{f.result_type}"] += f.failed_session_count
    return out


def test_world_matches(world: Any) -> None:
    assert (world.end, world.days) == (END, DAYS)


def _json(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return orjson.loads(response.content)


def test_unauthenticated_calls_get_401(world: Any) -> None:
    for path in ("/api/v1/domains", "/api/v1/domains/example.com", "/api/v1/reports/1/raw"):
        response = world.client.get(path)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"
        bad = world.get(path, "tlsrpt_not-a-token")
        assert bad.status_code == 401
        assert "invalid_token" in bad.headers["www-authenticate"]
    basic = world.client.get("/api/v1/domains", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401


@pytest.mark.parametrize("days", [7, 30, 60])
def test_domains_equal_an_independent_sum(world: Any, days: int) -> None:
    body = _json(world.get("/api/v1/domains", world.admin_token, days=days, until=END))
    assert body["start"] == (END - timedelta(days=days - 1)).isoformat()
    expected = expected_totals(days)
    got = {d["domain"]: d for d in body["domains"]}
    assert sorted(got) == sorted(DEMO_DOMAINS)
    for name, item in got.items():
        totals = expected.get(name, {})
        assert item["reports"] == totals.get("reports", 0)
        assert item["successful_sessions"] == totals.get("successful", 0)
        assert item["failed_sessions"] == totals.get("failed", 0)
        all_sessions = item["successful_sessions"] + item["failed_sessions"]
        if all_sessions:
            assert item["failure_rate"] == pytest.approx(item["failed_sessions"] / all_sessions)
        else:
            assert item["failure_rate"] is None
        assert set(item) >= {
            "domain",
            "successful_sessions",
            "failed_sessions",
            "failure_rate",
            "readiness",
        }


def test_readiness_verdicts_of_the_demo(world: Any) -> None:
    body = _json(world.get("/api/v1/domains", world.admin_token, days=30, until=END))
    verdicts = {d["domain"]: d["readiness"]["verdict"] for d in body["domains"]}
    assert verdicts["example.com"] == "ready"
    assert verdicts["shop.example.net"] == "not-ready"
    assert verdicts["new.example.io"] == "insufficient-data"
    shop = next(d for d in body["domains"] if d["domain"] == "shop.example.net")
    failed_checks = {r["check"] for r in shop["readiness"]["reasons"] if not r["passed"]}
    assert "blocking-failures" in failed_checks
    ready = next(d for d in body["domains"] if d["domain"] == "example.com")["readiness"]
    assert ready["large_senders"] == ["Google", "Microsoft", "Yahoo"]
    assert ready["clean_since"] == (END - timedelta(days=DAYS - 1)).isoformat()


def test_a_dane_only_domain_is_insufficient_data_with_a_dane_line(world: Any) -> None:
    """47,000 DANE sessions say nothing about MTA-STS's WebPKI check."""
    body = _json(world.get("/api/v1/domains/legacy.example.de", world.admin_token, until=END))
    readiness = body["readiness"]
    assert readiness["verdict"] == "insufficient-data"
    reasons = {r["check"]: r for r in readiness["reasons"]}
    assert reasons["sessions"]["value"] == 0 and not reasons["sessions"]["passed"]
    assert "DANE (tlsa)" in reasons["sessions"]["text"]
    expected = sum(
        p.summary.total_successful_session_count + p.summary.total_failure_session_count
        for r in REPORTS
        for p in r.policies
        if p.policy.policy_domain == "legacy.example.de"
        and r.date_range.start_datetime.date() > END - timedelta(days=30)
    )
    assert reasons["dane"]["passed"] and reasons["dane"]["value"] == expected
    assert f"{expected:,} sessions in the last 30 days" in reasons["dane"]["text"]
    assert readiness["clean_since"] is None and readiness["enforce_policy"] is None


def test_domain_summary_breakdowns(world: Any) -> None:
    body = _json(
        world.get("/api/v1/domains/shop.example.net", world.admin_token, days=30, until=END)
    )
    totals = expected_totals(30)["shop.example.net"]
    by_type = {t["result_type"]: t["failed_sessions"] for t in body["failures_by_result_type"]}
    assert by_type == {
        key.removeprefix("type:"): n for key, n in totals.items() if key.startswith("type:")
    }
    assert body["failures_by_mx"][0]["receiving_mx_hostname"] == "mx2.shop.example.net"
    assert sum(m["failed_sessions"] for m in body["failures_by_mx"]) == sum(by_type.values())
    assert body["readiness"]["verdict"] == "not-ready"
    # Failures up to END: no clean day, so no sender reported a clean one.
    assert body["readiness"]["clean_since"] is None
    assert body["readiness"]["large_senders"] == []
    # certificate-expired started 20 days before END: new against the 30 days before.
    assert "certificate-expired" in body["new_failure_types"]
    legacy = _json(
        world.get("/api/v1/domains/legacy.example.de", world.admin_token, days=30, until=END)
    )
    assert [s["organization"] for s in legacy["stopped_reporters"]] == ["Mail.Ru"]


def test_daily_series_json_and_csv(world: Any) -> None:
    body = _json(
        world.get("/api/v1/domains/example.com/daily", world.admin_token, days=10, until=END)
    )
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for report in REPORTS:
        for p in report.policies:
            if p.policy.policy_domain == "example.com":
                day = report.date_range.start_datetime.date().isoformat()
                per_day[day][0] += p.summary.total_successful_session_count
                per_day[day][1] += p.summary.total_failure_session_count
    assert len(body["daily"]) == 10
    for point in body["daily"]:
        assert [point["successful_sessions"], point["failed_sessions"]] == per_day[point["day"]]
    response = world.get(
        "/api/v1/domains/example.com/daily", world.admin_token, days=10, until=END, format="csv"
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["day"] for r in rows] == [p["day"] for p in body["daily"]]
    assert [int(r["successful_sessions"]) for r in rows] == [
        p["successful_sessions"] for p in body["daily"]
    ]


def test_gap_days_are_null_not_zero(world: Any) -> None:
    body = _json(
        world.get("/api/v1/domains/new.example.io/daily", world.admin_token, days=10, until=END)
    )
    gaps = [p for p in body["daily"] if p["reports"] == 0]
    assert len(gaps) == 4
    assert all(p["successful_sessions"] is None and p["failure_rate"] is None for p in gaps)


def test_failures_reports_and_raw_download(world: Any) -> None:
    failures = _json(
        world.get(
            "/api/v1/domains/shop.example.net/failures", world.customer_token, days=30, until=END
        )
    )["failures"]
    assert (
        sum(f["failed_session_count"] for f in failures)
        == expected_totals(30)["shop.example.net"]["failed"]
    )
    reports = _json(
        world.get(
            "/api/v1/reports", world.customer_token, domain="shop.example.net", days=1, until=END
        )
    )["reports"]
    assert {r["organization"] for r in reports} == {
        "Google Inc.",
        "Microsoft Corporation",
        "mx.example-isp.net",
    }
    first = reports[0]
    detail = _json(world.get(f"/api/v1/reports/{first['id']}", world.customer_token))
    assert detail["report"]["report_id"] == first["report_id"]
    raw = world.get(f"/api/v1/reports/{first['id']}/raw", world.customer_token)
    assert raw.status_code == 200
    original = next(r for r in REPORTS if r.report_id == first["report_id"])
    assert raw.content == to_json(original)
    assert "attachment" in raw.headers["content-disposition"]


def test_a_customer_sees_only_its_domains(world: Any) -> None:
    body = _json(world.get("/api/v1/domains", world.customer_token, days=30, until=END))
    assert [d["domain"] for d in body["domains"]] == ["shop.example.net"]
    for path in (
        "/api/v1/domains/example.com",
        "/api/v1/domains/example.com/daily",
        "/api/v1/domains/example.com/failures",
        "/api/v1/domains/does-not-exist.example",
    ):
        response = world.get(path, world.customer_token)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
    assert (
        world.get("/api/v1/reports", world.customer_token, domain="example.com").status_code == 404
    )
    other = _json(world.get("/api/v1/reports", world.admin_token, domain="example.com", until=END))[
        "reports"
    ][0]
    assert world.get(f"/api/v1/reports/{other['id']}", world.customer_token).status_code == 404
    assert world.get(f"/api/v1/reports/{other['id']}/raw", world.customer_token).status_code == 404
    listed = _json(
        world.get("/api/v1/reports", world.customer_token, days=60, until=END, limit=1000)
    )
    assert {d for r in listed["reports"] for d in r["domains"]} == {"shop.example.net"}


def test_quarantine_is_for_admins(world: Any) -> None:
    assert world.get("/api/v1/quarantine", world.customer_token).status_code == 403
    rows = _json(world.get("/api/v1/quarantine", world.admin_token))["quarantined"]
    assert len(rows) == 1
    raw_id = rows[0]["id"]
    headers = {"Authorization": f"Bearer {world.customer_token}"}
    assert (
        world.client.post(f"/api/v1/quarantine/{raw_id}/retry", headers=headers).status_code == 403
    )
    headers = {"Authorization": f"Bearer {world.admin_token}"}
    retried = world.client.post(f"/api/v1/quarantine/{raw_id}/retry", headers=headers)
    assert retried.status_code == 200
    assert orjson.loads(retried.content)["outcome"] == "quarantined"
    assert world.client.post("/api/v1/quarantine/999999/retry", headers=headers).status_code == 404


def test_openapi_schema_describes_the_api(world: Any) -> None:
    schema = world.client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/domains",
        "/api/v1/domains/{domain}",
        "/api/v1/domains/{domain}/daily",
        "/api/v1/domains/{domain}/failures",
        "/api/v1/reports",
        "/api/v1/reports/{pk}",
        "/api/v1/reports/{pk}/raw",
    ):
        assert "get" in paths[path]
        assert paths[path]["get"]["security"] == [{"HTTPBearer": []}]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert not any(p.startswith(("/login", "/domains")) for p in paths)  # pages stay out


def test_bad_parameters_are_422(world: Any) -> None:
    response = world.get("/api/v1/domains", world.admin_token, days=0)
    assert response.status_code == 422
    assert world.get("/api/v1/domains", world.admin_token, until="yesterday").status_code == 422
    assert world.get("/api/v1/domains", world.admin_token, format="xml").status_code == 422


def test_until_defaults_to_today(world: Any) -> None:
    body = _json(world.get("/api/v1/domains", world.admin_token, days=1))
    assert body["end"] == datetime.now(UTC).date().isoformat()


def test_admin_lists_reports_of_unknown_domains(world: Any) -> None:
    from tlsrpt.ingest.model import SourceInfo
    from tlsrpt.ingest.pipeline import ingest

    # Postfix/libtlsrpt omits policy-domain on no-policy-found (docs/conformance.md#sender-quirks).
    day = END.isoformat()
    report = {
        "organization-name": "Postfix Reporter",
        "date-range": {"start-datetime": f"{day}T00:00:00Z", "end-datetime": f"{day}T23:59:59Z"},
        "contact-info": "postmaster@reporter.example",
        "report-id": "no-domain-1",
        "policies": [
            {
                "policy": {"policy-type": "no-policy-found"},
                "summary": {"total-successful-session-count": 2, "total-failure-session-count": 0},
            }
        ],
    }
    result = ingest(world.store, orjson.dumps(report), SourceInfo("file", "no-domain"))
    assert result.outcome == "accepted"
    pk = result.report_ids[0]
    admin = _json(world.get("/api/v1/reports", world.admin_token, days=1, until=END, limit=1000))
    assert pk in {r["id"] for r in admin["reports"]}
    customer = _json(
        world.get("/api/v1/reports", world.customer_token, days=1, until=END, limit=1000)
    )
    assert pk not in {r["id"] for r in customer["reports"]}
    assert world.get(f"/api/v1/reports/{pk}", world.customer_token).status_code == 404
