"""One shape per kind of result: timestamps in UTC with a `Z`, the readiness
object the same in the domain list and the domain detail, errors as
problem details that the schema declares and that never echo a refused
value back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest

DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
SECURITY = ("content-security-policy", "x-content-type-options", "referrer-policy")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _timestamps(body: Any) -> list[str]:
    return [s for s in _strings(body) if DATETIME.fullmatch(s)]


def _get(world: Any, path: str, **params: Any) -> Any:
    answer = world.get(path, world.admin_token, **params)
    assert answer.status_code == 200, (path, answer.text)
    assert answer.headers["content-type"] == "application/json"
    return orjson.loads(answer.content)


def test_every_timestamp_of_every_answer_is_utc_with_a_z(world: Any) -> None:
    period = {"days": 60, "until": world.end}
    # A quarantined input too, so the quarantine list has timestamps.
    junk = ingest(world.store, b'{"not": "a report"}', SourceInfo("file", "junk"))
    assert junk.outcome == "quarantined"
    reports = _get(world, "/api/v1/reports", **period)["reports"]
    bodies = {
        "me": _get(world, "/api/v1/me"),
        "domains": _get(world, "/api/v1/domains", **period),
        "detail": _get(world, "/api/v1/domains/shop.example.net", **period),
        "daily": _get(world, "/api/v1/domains/shop.example.net/daily", **period),
        "failures": _get(world, "/api/v1/domains/shop.example.net/failures", **period),
        "reports": {"reports": reports},
        "report": _get(world, f"/api/v1/reports/{reports[0]['id']}"),
        "quarantine": _get(world, "/api/v1/quarantine"),
    }
    seen = 0
    for name, body in bodies.items():
        for stamp in _timestamps(body):
            assert stamp.endswith("Z"), (name, stamp)
            seen += 1
    assert seen > 2 * len(reports)  # start_at and end_at of each report at least
    report = bodies["report"]["report"]
    assert report["start_at"].endswith("T00:00:00Z") and report["received_at"].endswith("Z")
    assert bodies["quarantine"]["quarantined"][-1]["received_at"].endswith("Z")


def test_readiness_is_the_same_object_in_the_list_and_the_detail(world: Any) -> None:
    period = {"days": 30, "until": world.end}
    listed = {d["domain"]: d for d in _get(world, "/api/v1/domains", **period)["domains"]}
    assert len(listed) >= 5
    for name, item in listed.items():
        detail = _get(world, f"/api/v1/domains/{name}", **period)
        assert item["readiness"] == detail["readiness"], name
        assert set(item["readiness"]) == {
            "verdict",
            "reasons",
            "clean_since",
            "large_senders",
            "enforce_policy",
        }
        for reason in item["readiness"]["reasons"]:
            assert set(reason) == {"check", "passed", "text", "value", "threshold"}
        for key in ("reports", "successful_sessions", "failed_sessions", "days_with_data"):
            assert item[key] == detail[key], (name, key)
    # The list's reasons name the MX hosts behind blocking failures, as the detail's do.
    shop = listed["shop.example.net"]["readiness"]
    blocking = next(r for r in shop["reasons"] if r["check"] == "blocking-failures")
    assert not blocking["passed"] and "(MX: mx2.shop.example.net)" in blocking["text"]
    assert blocking["value"] == world.end.isoformat() and blocking["threshold"] == 14
    # mail.example.org's stray MX was fixed 25 days before the end: the same
    # clean start whatever period the list is asked for.
    for days in (7, 14, 20, 30, 60):
        body = _get(world, "/api/v1/domains", days=days, until=world.end)
        fixed = {d["domain"]: d["readiness"] for d in body["domains"]}["mail.example.org"]
        assert fixed["clean_since"] == "2026-11-04", days
        assert fixed["verdict"] == "ready", days
        assert fixed == listed["mail.example.org"]["readiness"], days


def test_domain_csv_keeps_the_verdict_column(world: Any) -> None:
    answer = world.get("/api/v1/domains", world.admin_token, days=30, until=world.end, format="csv")
    header, *rows = answer.text.splitlines()
    assert header.split(",")[-2:] == ["readiness", "days_with_data"]
    assert any(",not-ready," in row for row in rows)


def _problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    for name in SECURITY:
        assert name in answer.headers, (status, name)
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    body: dict[str, Any] = orjson.loads(answer.content)
    assert body["status"] == status and body["type"] == "about:blank" and body["detail"]
    return body


def test_every_api_error_is_a_problem_with_the_security_headers(world: Any) -> None:
    token = world.admin_token
    _problem(world.get("/api/v1/domains"), 401)
    _problem(world.get("/api/v1/quarantine", world.customer_token), 403)
    _problem(world.get("/api/v1/domains/unknown.example", token), 404)
    _problem(world.get("/api/v1/no-such-thing", token), 404)
    _problem(world.get("/docs", token), 404)  # no docs pages: they load scripts from a CDN
    headers = {"Authorization": f"Bearer {token}"}
    not_allowed = _problem(world.client.delete("/api/v1/domains", headers=headers), 405)
    assert "GET" in not_allowed["detail"]
    invalid = _problem(world.get("/api/v1/domains", token, days=0), 422)
    assert invalid["errors"] == [
        {"in": "query", "name": "days", "reason": "Input should be greater than or equal to 1"}
    ]
    _problem(world.get("/api/v1/domains", token, until="0166-01-19"), 422)  # was a 500


def test_a_refused_value_is_not_echoed_back(world: Any) -> None:
    hostile = "<script>alert(1)</script>" + "x" * 300
    for params in ({"until": hostile}, {"format": hostile}, {"days": hostile}):
        answer = world.get("/api/v1/domains", world.admin_token, **params)
        _problem(answer, 422)
        assert "<script>" not in answer.text and "xxxxxxxx" not in answer.text


def test_the_schema_declares_problem_details(world: Any) -> None:
    answer = world.client.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in answer.headers
    schema = answer.json()
    assert set(schema["components"]["schemas"]["Problem"]["required"]) >= {"status", "detail"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    errors = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status == "default" or int(status) >= 400:
                    assert response["content"] == problem, (path, method, status)
                    errors += 1
            assert "default" in operation["responses"], (path, method)
    assert errors > 20
    domains = schema["paths"]["/api/v1/domains"]["get"]["responses"]["200"]["content"]
    item = schema["components"]["schemas"]["DomainOut"]["properties"]["readiness"]
    assert item == {"$ref": "#/components/schemas/ReadinessOut"}
    assert domains["application/json"]["schema"] == {"$ref": "#/components/schemas/DomainList"}
