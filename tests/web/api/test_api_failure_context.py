"""`GET /api/v1/domains/D/failures`: every failure group explained with
what the watcher saw on its day (the demo data, plus one check of
shop.example.net whose second MX had an expired certificate)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from tlsrpt.store.watch import SnapshotSummary, record_snapshot
from tlsrpt.watch.snapshot import canonical, digest

END = dt.date(2026, 11, 28)
CHECKED = dt.datetime.combine(END - dt.timedelta(days=1), dt.time(3), dt.UTC)


def _probe(not_after: str) -> dict[str, Any]:
    return {
        "address": "203.0.113.12",
        "starttls": True,
        "tls_version": "TLSv1.3",
        "error": None,
        "certificate": {
            "subject": "CN=mx2",
            "sans": ["mx2.shop.example.net"],
            "issuer": "CN=ca",
            "not_after": not_after,
            "sha256": "0",
        },
    }


def _snapshot() -> dict[str, Any]:
    return {
        "tlsrpt": {"records": [], "status": "nodata"},
        "sts": {"records": ["v=STSv1; id=1"], "status": "ok", "id": "1"},
        "policy": {
            "url": "https://mta-sts.shop.example.net/.well-known/mta-sts.txt",
            "status": 200,
            "error": None,
            "text": None,
            "mode": "testing",
            "mx": ["mx1.shop.example.net", "mx2.shop.example.net"],
            "max_age": 86400,
            "certificate": None,
        },
        "mx": [
            {
                "host": f"mx{n}.shop.example.net",
                "preference": 10 * n,
                "addresses": [],
                "tls": [_probe(not_after)],
                "tlsa": [],
                "tlsa_status": "nxdomain",
            }
            for n, not_after in ((1, "2027-06-01T00:00:00Z"), (2, "2026-11-08T00:00:00Z"))
        ],
        "findings": [],
    }


@pytest.fixture(scope="module")
def checked(world: Any) -> Any:
    snap = _snapshot()
    with world.store.write() as conn:
        record_snapshot(
            conn,
            "shop.example.net",
            canonical(snap).decode(),
            digest(snap),
            SnapshotSummary(0, 0, None),
            CHECKED,
            dt.timedelta(days=7),
        )
    return world


def _body(world: Any, **params: Any) -> Any:
    response = world.get(
        "/api/v1/domains/shop.example.net/failures", world.customer_token, until=END, **params
    )
    assert response.status_code == 200
    return orjson.loads(response.content)


def test_groups_are_explained_with_the_check_of_their_day(checked: Any) -> None:
    body = _body(checked, days=3)
    groups = {(g["day"], g["result_type"]): g for g in body["groups"]}
    expired = groups[(str(END), "certificate-expired")]
    assert expired["receiving_mx_hostname"] == "mx2.shop.example.net"
    assert expired["failure_reason_codes"] == ["X509_V_ERR_CERT_HAS_EXPIRED"]
    explanation = expired["explanation"]
    assert explanation["code"] == "certificate-expired"
    assert explanation["text"].startswith(
        "the certificate of mx2.shop.example.net had expired on 2026-11-08"
    )
    assert explanation["checked_at"] == ["2026-11-27T03:00:00Z"]
    assert explanation["policies"][0]["source"] == "check"
    assert explanation["title"] == "Certificate expired"
    earlier = groups[(str(END - dt.timedelta(days=2)), "certificate-expired")]["explanation"]
    assert earlier["code"] == "no-check-history"
    assert earlier["text"] == "no check history for 2026-11-26"


def test_every_row_carries_its_groups_explanation(checked: Any) -> None:
    body = _body(checked, days=3)
    by_key = {(g["day"], g["result_type"], g["receiving_mx_hostname"]): g for g in body["groups"]}
    assert body["failures"]
    for row in body["failures"]:
        group = by_key[(row["day"], row["result_type"], row["receiving_mx_hostname"])]
        assert row["explanation"] == group["explanation"]
    assert sum(g["failed_sessions"] for g in body["groups"]) == sum(
        r["failed_session_count"] for r in body["failures"]
    )


def test_the_policy_host_status_from_the_report(checked: Any) -> None:
    body = _body(checked, days=60)
    fetch = [g for g in body["groups"] if g["result_type"] == "sts-policy-fetch-error"]
    assert fetch
    for group in fetch:
        first = group["explanation"]["facts"][0]
        assert first["code"] == "policy-host-status"
        assert first["status"] == 503


def test_csv_keeps_its_columns(checked: Any) -> None:
    response = checked.get(
        "/api/v1/domains/shop.example.net/failures",
        checked.customer_token,
        until=END,
        days=3,
        format="csv",
    )
    assert response.status_code == 200
    assert "explanation" not in response.text.splitlines()[0]
