"""Drift between a hosted policy and what DNS and the policy host publish:
`sts-record-id-stale` and `sts-policy-not-served`. Pure."""

from __future__ import annotations

from typing import Any

import pytest

from tlsrpt.analysis.alert_drift import (
    DRIFT_RULES,
    ID_STALE,
    NOT_SERVED,
    HostedPolicy,
    drift_conditions,
)
from tlsrpt.analysis.alert_settings import parse_alert_settings
from tlsrpt.records import generate_sts_policy

TEXT = generate_sts_policy("testing", ("mx1.example.com",), 86400)
HOSTED = HostedPolicy(
    "example.com", 3, "20261207T120000Z3", TEXT, "testing", ("mx1.example.com",), 86400
)
RULES = parse_alert_settings({}, set()).for_domain("example.com")


def _snapshot(
    sts_id: str | None = HOSTED.id, text: str | None = TEXT, status: str = "ok"
) -> dict[str, Any]:
    return {
        "sts": {
            "records": [f"v=STSv1; id={sts_id}"] if sts_id else [],
            "status": status,
            "id": sts_id,
        },
        "policy": {
            "url": "https://mta-sts.example.com/.well-known/mta-sts.txt",
            "status": 200 if text is not None else 404,
            "error": None,
            "text": text,
        },
    }


def test_published_as_hosted_is_no_drift() -> None:
    drift = drift_conditions(_snapshot(), HOSTED, RULES)
    assert drift.conditions == [] and drift.unknown == frozenset()


def test_not_hosted_judges_nothing_and_resolves() -> None:
    drift = drift_conditions(_snapshot(sts_id="other", text="x"), None, RULES)
    assert drift.conditions == [] and drift.unknown == frozenset()


def test_stale_id() -> None:
    (found,) = drift_conditions(_snapshot(sts_id="20261201T000000Z2"), HOSTED, RULES).conditions
    assert (found.rule, found.subject, found.severity) == (
        ID_STALE,
        "_mta-sts.example.com",
        "warning",
    )
    assert found.summary == (
        "_mta-sts.example.com names id 20261201T000000Z2; the hosted policy's current "
        "version 3 has id 20261207T120000Z3"
    )
    assert "RFC 8461 §3.1" in found.explanation
    assert found.fix == (
        'publish _mta-sts.example.com TXT "v=STSv1; id=20261207T120000Z3" '
        "(`tlsrpt mta-sts show example.com` prints it)"
    )
    assert found.evidence["published_id"] == "20261201T000000Z2"
    assert found.evidence["expected_id"] == HOSTED.id


@pytest.mark.parametrize("status", ["nxdomain", "nodata"])
def test_missing_record_is_stale(status: str) -> None:
    (found,) = drift_conditions(_snapshot(sts_id=None, status=status), HOSTED, RULES).conditions
    assert found.rule == ID_STALE
    assert found.summary.startswith("_mta-sts.example.com is not published;")


def test_failed_lookup_or_fetch_is_unknown() -> None:
    drift = drift_conditions(_snapshot(status="error", text=None), HOSTED, RULES)
    assert drift.conditions == []
    assert drift.unknown == frozenset(DRIFT_RULES)
    assert drift_conditions(None, HOSTED, RULES).unknown == frozenset(DRIFT_RULES)


def test_other_mode_served_is_an_error() -> None:
    served = generate_sts_policy("enforce", ("mx1.example.com",), 86400)
    (found,) = drift_conditions(_snapshot(text=served), HOSTED, RULES).conditions
    assert (found.rule, found.subject, found.severity) == (
        NOT_SERVED,
        "mta-sts.example.com",
        "error",
    )
    assert found.summary == (
        "mta-sts.example.com does not serve the hosted policy (version 3, id "
        "20261207T120000Z3): mode enforce served, testing hosted"
    )
    assert found.evidence["differences"] == ["mode enforce served, testing hosted"]


def test_other_mx_served_is_an_error() -> None:
    served = generate_sts_policy("testing", ("mx2.example.com",), 86400)
    (found,) = drift_conditions(_snapshot(text=served), HOSTED, RULES).conditions
    assert found.severity == "error"
    assert "mx mx2.example.com served, mx1.example.com hosted" in found.summary


def test_other_max_age_or_bytes_only_is_a_warning() -> None:
    served = generate_sts_policy("testing", ("mx1.example.com",), 604800)
    (found,) = drift_conditions(_snapshot(text=served), HOSTED, RULES).conditions
    assert found.severity == "warning"
    assert found.evidence["differences"] == ["max_age 604800 served, 86400 hosted"]
    lf = TEXT.replace("\r\n", "\n")  # the same policy, but not byte for byte
    (found,) = drift_conditions(_snapshot(text=lf), HOSTED, RULES).conditions
    assert found.severity == "warning"
    assert found.evidence["differences"] == [
        f"the text differs ({len(lf)} characters served, {len(TEXT)} hosted)"
    ]


def test_not_a_policy_served_is_an_error() -> None:
    (found,) = drift_conditions(_snapshot(text="<html>welcome</html>"), HOSTED, RULES).conditions
    assert found.severity == "error"
    assert found.evidence["differences"] == ["the served text is not a valid policy"]


def test_disabled_rules_make_no_condition() -> None:
    off = parse_alert_settings(
        {"rules": {ID_STALE: {"enabled": False}, NOT_SERVED: {"enabled": False}}}, set()
    ).for_domain("example.com")
    drift = drift_conditions(_snapshot(sts_id="x", text="y"), HOSTED, off)
    assert drift.conditions == [] and drift.unknown == frozenset()
