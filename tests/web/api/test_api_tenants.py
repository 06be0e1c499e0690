"""Tenant isolation in the JSON API for reports that name several domains:
a user sees only the policies of their domains, with totals over those;
the input's bytes only when every policy in them is theirs (admins always);
otherwise the same 404 as a report that does not exist."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from tests.conftest import module_store

from tlsrpt.settings import Settings
from tlsrpt.web.app import create_app

DAY = datetime.now(UTC).date() - timedelta(days=1)
ADMIN = "admin@operator.example"
A, B, AB = "owner@customer-a.example", "owner@customer-b.example", "owner@customer-ab.example"
# Words of one domain's policies only (tests/conftest.py ALPHA, BETA).
BETA_TRACES = ("beta", "198.51.100.7", "4444")
ALPHA_TRACES = ("alpha", "192.0.2.1", "3333")
# Sessions of one policy: alpha.example's and beta.example's (conftest ALPHA, BETA).
ALPHA_OK, ALPHA_FAILED, BETA_OK, BETA_FAILED = 100, 5, 200, 7


@dataclass
class World:
    client: TestClient
    t: Any  # conftest.Tenants

    def get(self, path: str, who: str, **params: object) -> Any:
        headers = {"Authorization": f"Bearer {self.t.tokens[who]}"}
        return self.client.get(path, headers=headers, params={"until": DAY, **params})


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tenant_store_builder: Callable[..., Any],
) -> Iterator[World]:
    with module_store(request, tmp_path_factory, "tenants") as store:
        tenants = tenant_store_builder(store, DAY)
        with TestClient(create_app(Settings(), store)) as client:
            yield World(client, tenants)


def _json(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return orjson.loads(response.content)


def _no_trace(text: str, traces: tuple[str, ...]) -> None:
    for word in traces:
        assert word not in text.lower(), word


def test_report_list_shows_only_visible_policies_and_their_totals(world: World) -> None:
    t = world.t
    answer = world.get("/api/v1/reports", A)
    _no_trace(answer.text, BETA_TRACES)
    rows = {r["id"]: r for r in _json(answer)["reports"]}
    assert set(rows) == {
        t.mixed,
        t.alpha_only,
        t.mail_alpha,
        t.first_alpha,
        t.noted_alpha,
        t.conflict_alpha,
    }
    for row in rows.values():
        assert row["domains"] == ["alpha.example"]
        assert (row["successful_sessions"], row["failed_sessions"]) == (ALPHA_OK, ALPHA_FAILED)
    b_rows = {r["id"]: r for r in _json(world.get("/api/v1/reports", B))["reports"]}
    assert set(b_rows) == {t.mixed, t.beta_only, t.mail_beta, t.again_beta}
    assert (b_rows[t.mixed]["successful_sessions"], b_rows[t.mixed]["failed_sessions"]) == (
        BETA_OK,
        BETA_FAILED,
    )
    admin = {r["id"]: r for r in _json(world.get("/api/v1/reports", ADMIN))["reports"]}
    assert admin[t.mixed]["domains"] == ["alpha.example", "beta.example"]
    assert admin[t.mixed]["successful_sessions"] == ALPHA_OK + BETA_OK
    assert admin[t.mixed]["failed_sessions"] == ALPHA_FAILED + BETA_FAILED
    assert admin[t.no_domain]["domains"] == [""]  # admins only
    both = {r["id"]: r for r in _json(world.get("/api/v1/reports", AB))["reports"]}
    assert both[t.mixed]["successful_sessions"] == ALPHA_OK + BETA_OK
    assert t.no_domain not in both


def test_report_list_filtered_by_domain_and_as_csv(world: World) -> None:
    t = world.t
    answer = world.get("/api/v1/reports", A, domain="alpha.example", format="csv")
    assert answer.status_code == 200
    _no_trace(answer.text, BETA_TRACES)
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(answer.text))}
    assert rows[t.mixed]["successful_sessions"] == str(ALPHA_OK)
    assert rows[t.mixed]["failed_sessions"] == str(ALPHA_FAILED)
    assert world.get("/api/v1/reports", A, domain="beta.example").status_code == 404
    listed = _json(world.get("/api/v1/reports", AB, domain="beta.example"))["reports"]
    mixed = next(r for r in listed if r["id"] == t.mixed)
    assert mixed["domains"] == ["alpha.example", "beta.example"]


def test_report_shows_only_visible_policies_failures_and_mx(world: World) -> None:
    t = world.t
    answer = world.get(f"/api/v1/reports/{t.mixed}", A)
    _no_trace(answer.text, BETA_TRACES)
    body = _json(answer)
    assert [p["domain"] for p in body["policies"]] == ["alpha.example"]
    assert [f["receiving_mx_hostname"] for f in body["failures"]] == ["mx1.alpha.example"]
    assert body["report"]["successful_sessions"] == ALPHA_OK
    assert body["report"]["failed_sessions"] == ALPHA_FAILED
    assert body["raw_available"] is False
    assert body["report"]["content_sha256"] is None  # a digest of both policies
    assert body["raw"]["source_detail"] is None  # the file name names beta.example
    assert body["raw"]["sha256"] is None and body["raw"]["source_kind"] == "file"

    b = _json(world.get(f"/api/v1/reports/{t.mixed}", B))
    _no_trace(orjson.dumps(b).decode(), ALPHA_TRACES)
    assert [p["domain"] for p in b["policies"]] == ["beta.example"]
    assert (b["report"]["successful_sessions"], b["report"]["failed_sessions"]) == (
        BETA_OK,
        BETA_FAILED,
    )

    admin = _json(world.get(f"/api/v1/reports/{t.mixed}", ADMIN))
    assert [p["domain"] for p in admin["policies"]] == ["alpha.example", "beta.example"]
    assert len(admin["failures"]) == 2
    assert admin["report"]["successful_sessions"] == ALPHA_OK + BETA_OK
    assert admin["raw_available"] is True
    assert admin["raw"]["source_detail"] == "/spool/beta.example-mixed.json"


def test_report_of_a_shared_mail_hides_the_other_header_and_source(world: World) -> None:
    t = world.t
    answer = world.get(f"/api/v1/reports/{t.mail_alpha}", A)
    _no_trace(answer.text, BETA_TRACES)
    body = _json(answer)
    assert body["raw_available"] is False
    assert body["report"]["header_domain"] is None  # TLS-Report-Domain: beta.example
    codes = {d["code"] for d in orjson.loads(body["report"]["deviations"])}
    assert "header-domain-mismatch" not in codes
    assert body["report"]["content_sha256"] is not None  # every policy shown
    admin = _json(world.get(f"/api/v1/reports/{t.mail_alpha}", ADMIN))
    assert admin["report"]["header_domain"] == "beta.example"
    assert "header-domain-mismatch" in {
        d["code"] for d in orjson.loads(admin["report"]["deviations"])
    }
    # alpha's report, found again in beta's e-mail: that arrival's source is beta's.
    first = world.get(f"/api/v1/reports/{t.first_alpha}", A)
    _no_trace(first.text, BETA_TRACES)
    duplicates = _json(first)["duplicates"]
    assert [d["raw_id"] for d in duplicates] == [t.again_raw, t.conflict_raw]
    assert [d["source_detail"] for d in duplicates] == [None, None]
    admin_first = _json(world.get(f"/api/v1/reports/{t.first_alpha}", ADMIN))
    assert "beta.example" in admin_first["duplicates"][0]["source_detail"]


def _not_found_shape(response: Any, pk: int) -> bytes:
    """A 404 answer with the report key taken out: the same for every
    report a user may not have, and for one that does not exist."""
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    detail = orjson.loads(response.content)["detail"]
    assert detail == f"no report {pk} among yours"
    return bytes(response.content.replace(f"report {pk} ".encode(), b"report ID "))


def test_raw_only_when_every_policy_of_the_input_is_visible(world: World) -> None:
    t = world.t
    allowed = {
        # the report naming both domains
        (t.mixed, A): False,
        (t.mixed, B): False,
        (t.mixed, AB): True,
        (t.mixed, ADMIN): True,
        # single-domain reports, alone in their input
        (t.alpha_only, A): True,
        (t.alpha_only, B): None,  # not even the report
        (t.beta_only, B): True,
        # one e-mail holding alpha's and beta's reports
        (t.mail_alpha, A): False,
        (t.mail_beta, B): False,
        (t.mail_alpha, AB): True,
        (t.mail_alpha, ADMIN): True,
        # alpha's report in its own file, found again in beta's e-mail
        (t.first_alpha, A): True,
        (t.again_beta, B): False,
        (t.again_beta, AB): True,
        # alpha's report in an e-mail with a part that could not be stored
        (t.noted_alpha, A): False,
        (t.noted_alpha, ADMIN): True,
        # alpha's report in an e-mail with another version of one, naming beta.example
        (t.conflict_alpha, A): False,
        (t.conflict_alpha, AB): False,  # what that version held is not known
        (t.conflict_alpha, ADMIN): True,
        # no policy domain: admins only
        (t.no_domain, A): None,
        (t.no_domain, ADMIN): True,
    }
    missing = 10**9
    absent = _not_found_shape(world.get(f"/api/v1/reports/{missing}/raw", A), missing)
    for (pk, who), expected in allowed.items():
        raw = world.get(f"/api/v1/reports/{pk}/raw", who)
        if expected:
            assert raw.status_code == 200, (pk, who)
            assert raw.headers["content-type"] == "application/octet-stream"
            continue
        assert _not_found_shape(raw, pk) == absent, (pk, who)
        report = world.get(f"/api/v1/reports/{pk}", who)
        if expected is None:
            assert _not_found_shape(report, pk) == absent
        else:
            assert _json(report)["raw_available"] is False
    mixed = world.get(f"/api/v1/reports/{t.mixed}/raw", ADMIN).content
    assert b"beta.example" in mixed and b"alpha.example" in mixed


def test_domain_routes_carry_no_trace_of_the_other_domain(world: World) -> None:
    domains = _json(world.get("/api/v1/domains", A, days=1))["domains"]
    assert [d["domain"] for d in domains] == ["alpha.example"]
    # Six reports carry alpha's policy on the day.
    assert domains[0]["reports"] == 6
    assert domains[0]["successful_sessions"] == 6 * ALPHA_OK
    assert domains[0]["failed_sessions"] == 6 * ALPHA_FAILED
    for path in (
        "/api/v1/domains",
        "/api/v1/domains/alpha.example",
        "/api/v1/domains/alpha.example/daily",
        "/api/v1/domains/alpha.example/failures",
    ):
        for format in ("json", "csv") if not path.endswith("alpha.example") else ("json",):
            answer = world.get(path, A, days=1, format=format)
            assert answer.status_code == 200, path
            _no_trace(answer.text, BETA_TRACES)
    detail = _json(world.get("/api/v1/domains/alpha.example", A, days=1))
    assert detail["failures_by_mx"] == [
        {"receiving_mx_hostname": "mx1.alpha.example", "failed_sessions": 6 * ALPHA_FAILED}
    ]
    failures = _json(world.get("/api/v1/domains/alpha.example/failures", A, days=1))["failures"]
    assert sum(f["failed_session_count"] for f in failures) == 6 * ALPHA_FAILED
    for path in ("/api/v1/domains/beta.example", "/api/v1/domains/beta.example/failures"):
        assert world.get(path, A).status_code == 404
