"""Attributed sessions in the JSON API: the owner of the recipient domain
sees the DANE and no-policy-found sessions a Postfix report filed under
the MX host or under nothing, with how each group was attributed; nobody
else does; the input's bytes still go only to a user who may see every
policy of every report in it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from tests.conftest import module_store

from tlsrpt.ingest.model import RECEIVER_DOMAIN, SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.settings import Settings
from tlsrpt.store.users import add_user, create_token
from tlsrpt.web.app import create_app

DAY = date(2026, 11, 20)  # the fixture report's day
CUSTOMER, OTHER, MX = "customer.example", "other.example", "mx1.provider.example"
ADMIN, A, B, H = (
    "admin@operator.example",
    "owner@customer.example",
    "owner@other.example",
    "owner@provider.example",
)
SMTP = SourceInfo("smtp", "127.0.0.1 to <tlsrpt@rua.example>")


def _sts_report(report_id: str, domain: str) -> bytes:
    return orjson.dumps(
        {
            "organization-name": "mail.sender.example",
            "date-range": {
                "start-datetime": f"{DAY}T00:00:00Z",
                "end-datetime": f"{DAY}T23:59:59Z",
            },
            "contact-info": "tls@mail.sender.example",
            "report-id": report_id,
            "policies": [
                {
                    "policy": {"policy-type": "sts", "policy-domain": domain, "mx-host": []},
                    "summary": {
                        "total-successful-session-count": 9,
                        "total-failure-session-count": 0,
                    },
                }
            ],
        }
    )


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]
    header_only: int  # a mailed Postfix report: every policy customer.example's
    shared_mail: int  # a mailed Postfix report (customer's) beside ...
    shared_other: int  # ... an sts report of other.example, in one e-mail
    by_mx: int  # POSTed without a domain: customer.example's by its MX set
    by_path: int  # POSTed to /v1/reports/customer.example
    provider_own: int  # a DANE report for the provider's host, POSTed to its own path

    def get(self, path: str, who: str, **params: object) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return self.client.get(path, headers=headers, params={"until": DAY, **params})


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postfix: Any
) -> Iterator[World]:
    with module_store(request, tmp_path_factory, "attribution") as store:
        tokens = {}
        with store.write() as conn:
            for email in (ADMIN, A, B, H):
                add_user(conn, email, "correct horse battery", admin=email == ADMIN)
        postfix.register(store, CUSTOMER, [MX], A)
        postfix.register(store, OTHER, ["mx.other.example"], B)
        postfix.register(store, "provider.example", [], H)

        def one(data: bytes, source: SourceInfo) -> tuple[int, ...]:
            result = ingest(store, data, source)
            assert result.outcome == "accepted", result.reason
            return result.report_ids

        (header_only,) = one(postfix.mail(CUSTOMER, postfix.report("mailed")), SMTP)
        shared_mail, shared_other = one(
            postfix.mail(CUSTOMER, postfix.report("shared"), _sts_report("other", OTHER)), SMTP
        )
        http = SourceInfo("http", "127.0.0.1:1")
        (by_mx,) = one(postfix.report("posted"), http)
        path_source = SourceInfo("http", "127.0.0.1:1", meta={RECEIVER_DOMAIN: CUSTOMER})
        (by_path,) = one(postfix.report("path", "mx9.elsewhere.example"), path_source)
        provider = SourceInfo("http", "127.0.0.1:1", meta={RECEIVER_DOMAIN: "provider.example"})
        (provider_own,) = one(postfix.report("provider", "mx2.provider.example"), provider)
        with store.write() as conn:
            tokens = {email: create_token(conn, email) for email in (ADMIN, A, B, H)}
        with TestClient(create_app(Settings(), store)) as client:
            yield World(
                client, tokens, header_only, shared_mail, shared_other, by_mx, by_path, provider_own
            )


def _json(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return orjson.loads(response.content)


def test_the_owner_sees_attributed_sessions_and_how(world: World) -> None:
    body = _json(world.get(f"/api/v1/domains/{CUSTOMER}", A, days=7))
    groups = {
        (g["policy_type"], g["policy_domain"], g["attribution"]): (
            g["reports"],
            g["successful_sessions"],
            g["failed_sessions"],
        )
        for g in body["attribution"]
    }
    assert groups == {
        ("tlsa", MX, "report-domain-header"): (2, 80, 2),
        ("no-policy-found", None, "report-domain-header"): (2, 6, 0),
        ("tlsa", MX, "mx-host-of-registered-domain"): (1, 40, 1),
        ("tlsa", "mx9.elsewhere.example", "receiver-path"): (1, 40, 1),
        ("no-policy-found", None, "receiver-path"): (1, 3, 0),
    }
    # the totals every view shows include them: 4 reports, 3 tlsa + 2 nameless + ...
    assert (body["reports"], body["successful_sessions"], body["failed_sessions"]) == (
        4,
        80 + 6 + 40 + 40 + 3,
        4,
    )


def test_the_mx_host_and_no_domain_hold_nothing(world: World) -> None:
    listed = {d["domain"] for d in _json(world.get("/api/v1/domains", ADMIN, days=7))["domains"]}
    assert MX not in listed and "" not in listed
    assert world.get(f"/api/v1/domains/{MX}", ADMIN, days=7).status_code == 404


def test_others_see_none_of_it(world: World) -> None:
    for who in (B, H):
        for pk in (world.header_only, world.shared_mail, world.by_mx, world.by_path):
            assert world.get(f"/api/v1/reports/{pk}", who).status_code == 404
            assert world.get(f"/api/v1/reports/{pk}/raw", who).status_code == 404
        assert world.get(f"/api/v1/domains/{CUSTOMER}", who).status_code == 404
    other = _json(world.get(f"/api/v1/domains/{OTHER}", B, days=7))
    assert [g["attribution"] for g in other["attribution"]] == ["reported"]
    provider = _json(world.get("/api/v1/domains/provider.example", H, days=7))
    assert {g["policy_domain"] for g in provider["attribution"]} == {"mx2.provider.example", None}


def test_raw_bytes_only_when_every_policy_of_the_input_is_the_users(world: World) -> None:
    # every policy of the input attributed to customer.example: A has the bytes
    for pk in (world.header_only, world.by_path):
        assert _json(world.get(f"/api/v1/reports/{pk}", A))["raw_available"] is True
        raw = world.get(f"/api/v1/reports/{pk}/raw", A)
        assert raw.status_code == 200 and raw.content
    # one e-mail, customer's report and other.example's: neither owner has
    # the bytes; nor has A those of the report attributed by its MX host
    # alone, whose nameless policy is nobody's
    for who, pk in ((A, world.shared_mail), (B, world.shared_other), (A, world.by_mx)):
        shown = _json(world.get(f"/api/v1/reports/{pk}", who))
        assert shown["raw_available"] is False
        assert world.get(f"/api/v1/reports/{pk}/raw", who).status_code == 404
    # the admin has everything
    assert world.get(f"/api/v1/reports/{world.shared_mail}/raw", ADMIN).status_code == 200


def test_the_report_shows_the_policy_as_reported_and_as_attributed(world: World) -> None:
    shown = _json(world.get(f"/api/v1/reports/{world.header_only}", A))
    assert [(p["policy_domain"], p["domain"], p["attribution"]) for p in shown["policies"]] == [
        (MX, CUSTOMER, "report-domain-header"),
        (None, CUSTOMER, "report-domain-header"),
    ]
    codes = [d["code"] for d in orjson.loads(shown["report"]["deviations"])]
    assert "policy-domain-attributed" in codes
