"""Failures explained with what was published on their day."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from tlsrpt.analysis.failure_context import (
    MAX_GAP,
    FailureGroup,
    GroupRow,
    History,
    explain_failure,
    failure_groups,
    states_on,
    versions_on,
)
from tlsrpt.analysis.failure_facts import CheckState
from tlsrpt.export import json_bytes
from tlsrpt.mtasts import Change, new_version

DAY = dt.date(2026, 12, 3)
UTC = dt.UTC


def at(day: dt.date, hour: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), UTC)


def cert(not_after: str) -> dict[str, Any]:
    return {"subject": "CN=x", "sans": [], "issuer": "CN=ca", "not_after": not_after, "sha256": "0"}


def snapshot(
    *,
    patterns: tuple[str, ...] = ("*.mx.example.com",),
    mode: str = "enforce",
    mx: tuple[str, ...] = ("mx1.mx.example.com",),
    policy: dict[str, Any] | None = None,
    tls: dict[str, Any] | None = None,
    findings: tuple[dict[str, Any], ...] = (),
    tlsa_status: str = "nxdomain",
    sts_id: str = "abc",
) -> dict[str, Any]:
    served = {
        "url": "https://mta-sts.example.com/.well-known/mta-sts.txt",
        "status": 200,
        "error": None,
        "text": "x",
        "mode": mode,
        "mx": sorted(patterns),
        "max_age": 604800,
        "certificate": cert("2027-06-01T00:00:00Z"),
    }
    probe = {
        "address": "192.0.2.1",
        "starttls": True,
        "tls_version": "TLSv1.3",
        "error": None,
        "certificate": cert("2027-06-01T00:00:00Z"),
    }
    return {
        "tlsrpt": {"records": [], "status": "nodata"},
        "sts": {"records": [f"v=STSv1; id={sts_id}"], "status": "ok", "id": sts_id},
        "policy": served if policy is None else policy,
        "mx": [
            {
                "host": host,
                "preference": 10,
                "addresses": ["192.0.2.1"],
                "tls": [{**probe, **(tls or {})}],
                "tlsa": [],
                "tlsa_status": tlsa_status,
            }
            for host in mx
        ],
        "findings": list(findings),
    }


def state(first: dt.datetime, last: dt.datetime | None = None, **kw: Any) -> CheckState:
    return CheckState(first, last or first + dt.timedelta(hours=6), snapshot(**kw))


def group(
    result_type: str = "validation-failure",
    mx: str | None = "mx1.mx.example.com",
    *,
    day: dt.date = DAY,
    codes: tuple[str, ...] = (),
    types: tuple[str, ...] = ("sts",),
    strings: tuple[tuple[str, ...], ...] = (),
) -> FailureGroup:
    return FailureGroup(day, result_type, mx, 10, codes, types, strings)


def version_history() -> list[Any]:
    v1 = new_version(
        "example.com",
        [],
        Change("testing", ("mx1.example.com",), 86400),
        now=at(dt.date(2026, 11, 20), 9),
        created_by="t",
    )
    v2 = new_version(
        "example.com",
        [v1],
        Change("enforce", ("*.mx.example.com",), 604800),
        now=at(dt.date(2026, 12, 1), 9),
        created_by="t",
    )
    return [v1, v2]


def codes(explanation: Any) -> list[str]:
    return [f.code for f in explanation.facts]


# --- grouping ------------------------------------------------------------------


def test_groups_sum_by_day_type_and_mx_case_insensitively() -> None:
    lines = ("version: STSv1", "mode: testing", "mx: a.example.com", "max_age: 86400")
    rows = [
        GroupRow(DAY, "validation-failure", "MX1.example.com", "x-1", "sts", lines, 3),
        GroupRow(DAY, "validation-failure", "mx1.example.com", "x-2", "sts", lines, 4),
        GroupRow(DAY, "validation-failure", "mx1.example.com", None, "tlsa", ("3 1 1 ab",), 1),
        GroupRow(DAY - dt.timedelta(days=1), "certificate-expired", None, None, None, (), 50),
        GroupRow(DAY, "certificate-expired", "mx2.example.com", None, "sts", (), 1),
    ]
    groups = failure_groups(rows)
    assert [(g.day, g.result_type, g.sessions) for g in groups] == [
        (DAY, "validation-failure", 8),
        (DAY, "certificate-expired", 1),
        (DAY - dt.timedelta(days=1), "certificate-expired", 50),
    ]
    first = groups[0]
    assert first.mx == "MX1.example.com"  # as the first row wrote it
    assert first.reason_codes == ("x-1", "x-2")
    assert first.policy_types == ("sts", "tlsa")
    assert first.policy_strings == (lines,)  # only sts policy strings, once


# --- which history holds on a day ----------------------------------------------


def test_states_on_takes_the_state_at_the_start_and_those_of_the_day() -> None:
    old = state(at(DAY - dt.timedelta(days=5)), at(DAY, 0) - dt.timedelta(hours=1))
    morning = state(at(DAY, 10))
    later = state(at(DAY + dt.timedelta(days=1), 1))
    assert states_on([old, morning, later], DAY) == (old, morning)


def test_states_on_drops_a_state_not_seen_for_longer_than_the_gap() -> None:
    stale = state(at(DAY - dt.timedelta(days=10)), at(DAY) - MAX_GAP - dt.timedelta(hours=1))
    assert states_on([stale], DAY) == ()
    fresh = state(at(DAY - dt.timedelta(days=10)), at(DAY) - MAX_GAP + dt.timedelta(hours=1))
    assert states_on([fresh], DAY) == (fresh,)


def test_versions_on_takes_the_current_one_and_those_of_the_day() -> None:
    v1, v2 = version_history()
    assert versions_on([v1, v2], DAY) == [v2]
    assert versions_on([v1, v2], dt.date(2026, 12, 1)) == [v1, v2]
    assert versions_on([v1, v2], dt.date(2026, 11, 1)) == []


# --- explanations ---------------------------------------------------------------


def test_mx_not_covered_by_a_wildcard_of_one_label() -> None:
    history = History([state(at(DAY, 1), mx=("mx3.a.mx.example.com",))])
    found = explain_failure(group(mx="mx3.a.mx.example.com"), history)
    assert found.code == "mx-not-covered"
    assert found.text.startswith(
        "mx3.a.mx.example.com was not covered by the policy in effect on 2026-12-03 "
        "(patterns: *.mx.example.com; "
    )
    assert "exactly one label" in found.text
    assert found.facts[0].data["patterns"] == ["*.mx.example.com"]
    assert found.policies[0].source == "check"
    assert found.checked_at == (at(DAY, 1),)
    assert found.title == "Other validation failure"


def test_certificate_expired_before_the_day() -> None:
    history = History([state(at(DAY, 1), tls={"certificate": cert("2026-11-30T12:00:00Z")})])
    found = explain_failure(group("certificate-expired"), history)
    assert found.code == "certificate-expired"
    assert found.facts[0].text == "the certificate of mx1.mx.example.com had expired on 2026-11-30"


def test_certificate_valid_that_day_is_no_fault() -> None:
    history = History([state(at(DAY, 1))])
    found = explain_failure(group("certificate-expired"), history)
    assert codes(found) == ["no-fault-seen"]
    assert found.text == "the checks of 2026-12-03 saw no fault at mx1.mx.example.com"


def test_sender_used_a_replaced_hosted_version() -> None:
    v1, v2 = version_history()
    lines = tuple(v1.text.rstrip("\r\n").split("\r\n"))
    history = History([state(at(DAY, 1))], [v1, v2])
    found = explain_failure(group(mx="mx1.mx.example.com", strings=(lines,)), history)
    assert found.code == "policy-superseded"
    fact = found.facts[0]
    assert fact.text.startswith(
        f"the sender used policy id {v1.id} (version 1, mode testing), which did not cover "
        f"mx1.mx.example.com, replaced on 2026-12-01 by id {v2.id} (version 2, mode enforce)"
    )
    assert (fact.data["replaced_by"], fact.data["source"]) == (v2.id, "hosted")


def test_sender_used_a_policy_the_checks_saw_replaced() -> None:
    old = state(
        at(dt.date(2026, 11, 25)), patterns=("mx1.example.com",), mode="testing", sts_id="old1"
    )
    new = state(at(dt.date(2026, 12, 1)), sts_id="new2")
    lines = ("version: STSv1", "mode: testing", "mx: mx1.example.com", "max_age: 604800")
    found = explain_failure(group(strings=(lines,)), History([old, new]))
    assert found.code == "policy-superseded"
    assert found.facts[0].text.startswith(
        "the sender used policy id old1 (mode testing), which did not cover mx1.mx.example.com, "
        "replaced on 2026-12-01 by id new2 (mode enforce): "
    )
    assert found.facts[0].data["source"] == "check"


def test_sender_used_the_policy_in_effect_adds_nothing() -> None:
    v1, v2 = version_history()
    lines = tuple(v2.text.rstrip("\r\n").split("\r\n"))
    history = History([state(at(DAY, 1))], [v1, v2])
    found = explain_failure(group(strings=(lines,)), history)
    assert codes(found) == ["no-fault-seen"]


def test_sender_used_a_policy_never_published_here() -> None:
    lines = ("version: STSv1", "mode: enforce", "mx: old.example.net", "max_age: 86400")
    found = explain_failure(group(strings=(lines,)), History([state(at(DAY, 1))]))
    assert found.code == "policy-differs"
    assert "(mode enforce, mx old.example.net, max_age 86400), which did not cover" in found.text


def test_policy_host_status_from_the_failure_reason_code() -> None:
    found = explain_failure(group("sts-policy-fetch-error", None, codes=("http-404",)), History())
    assert found.code == "policy-host-status"
    assert found.facts[0].text == "the policy host answered 404 (failure-reason-code 'http-404')"
    assert found.facts[0].data["status"] == 404
    assert codes(found)[-1] == "no-check-history"


def test_policy_host_failing_in_the_check() -> None:
    failing = {"url": "https://mta-sts.example.com/x", "status": 404, "error": None}
    found = explain_failure(
        group("sts-policy-fetch-error", None), History([state(at(DAY, 1), policy=failing)])
    )
    assert found.code == "policy-host-failed"
    assert found.text.startswith(
        "in the check of 2026-12-03 01:00 UTC, https://mta-sts.example.com/x answered 404"
    )


def test_policy_host_certificate_expired() -> None:
    snap = snapshot()
    snap["policy"]["certificate"] = cert("2026-12-02T00:00:00Z")
    history = History([CheckState(at(DAY, 1), at(DAY, 2), snap)])
    found = explain_failure(group("sts-webpki-invalid", None), history)
    assert found.code == "policy-certificate-expired"
    assert found.text == "the certificate of mta-sts.example.com had expired on 2026-12-02"


def test_no_sts_record_in_the_check() -> None:
    snap = snapshot()
    snap["policy"], snap["sts"] = None, {"records": [], "status": "nxdomain", "id": None}
    found = explain_failure(
        group("sts-policy-fetch-error", None), History([CheckState(at(DAY), at(DAY, 5), snap)])
    )
    assert found.code == "sts-record-missing"


def test_policy_served_fine_is_weak() -> None:
    found = explain_failure(group("sts-policy-invalid", None), History([state(at(DAY, 1))]))
    assert codes(found) == ["policy-host-ok", "no-fault-seen"]


def test_no_check_history_says_so_and_names_the_latest_check() -> None:
    earlier = state(at(DAY - dt.timedelta(days=20)), at(DAY - dt.timedelta(days=9)))
    found = explain_failure(group(), History([earlier]))
    assert codes(found) == ["no-check-history"]
    assert found.text == (
        "no check history for 2026-12-03 (the latest check before it was on 2026-11-24 00:00 UTC)"
    )
    assert explain_failure(group(), History()).text == "no check history for 2026-12-03"


def test_without_checks_the_hosted_version_gives_the_patterns() -> None:
    v1, v2 = version_history()
    found = explain_failure(group(mx="mail.example.org"), History([], [v1, v2]))
    assert codes(found) == ["mx-not-covered", "no-check-history"]
    assert found.policies[0].source == "hosted"
    assert found.policies[0].id == v2.id
    assert found.facts[0].data["policy_id"] == v2.id


def test_testing_and_none_modes_matter_only_when_in_force() -> None:
    history = History([state(at(DAY, 1), mode="none", mx=("other.example.org",))])
    assert "mx-not-covered" not in codes(explain_failure(group(mx="other.example.org"), history))


def test_dane_groups_get_tlsa_facts_and_no_sts_ones() -> None:
    history = History([state(at(DAY, 1), mx=("mx9.example.org",), tlsa_status="nxdomain")])
    found = explain_failure(group("tlsa-invalid", "mx9.example.org", types=("tlsa",)), history)
    assert codes(found) == ["tlsa-unusable"]
    assert found.policies == ()
    assert "(nxdomain)" in found.text


def test_mx_facts_from_the_check() -> None:
    finding = {
        "code": "mx-certificate-host-mismatch",
        "severity": "error",
        "subject": "mx1.mx.example.com",
        "message": "the certificate does not name mx1.mx.example.com",
    }
    history = History(
        [
            state(at(DAY, 1), findings=(finding,), tls={"starttls": False}),
            state(at(DAY, 9), tls={"error": "handshake failure"}),
        ]
    )
    found = explain_failure(group("certificate-host-mismatch"), history)
    assert codes(found) == ["check-finding", "starttls-missing", "tls-failed"]
    assert found.facts[0].text == (
        "the check of 2026-12-03 01:00 UTC found: the certificate does not name mx1.mx.example.com"
    )
    assert found.checked_at == (at(DAY, 1), at(DAY, 9))


def test_an_mx_the_checks_never_saw() -> None:
    history = History([state(at(DAY, 1))])
    found = explain_failure(group("starttls-not-supported", "mx7.mx.example.com"), history)
    assert codes(found) == ["mx-not-listed"]


def test_hostile_report_text_is_shortened_and_quoted() -> None:
    code = "<script>" + "9" * 500 + " 503"
    found = explain_failure(group("sts-policy-fetch-error", None, codes=(code,)), History())
    fact = found.facts[0]
    assert fact.data["status"] == 503
    assert len(fact.text) < 200
    assert "'<script>" in fact.text


@pytest.mark.parametrize("mx", [None, "", "   "])
def test_no_mx_named(mx: str | None) -> None:
    found = explain_failure(group(mx=mx), History([state(at(DAY, 1))]))
    assert found.text == "the checks of 2026-12-03 saw no fault"


def test_as_dict_is_json() -> None:
    v1, v2 = version_history()
    found = explain_failure(group(mx="mail.example.org"), History([], [v1, v2]))
    body = orjson.loads(json_bytes(found.as_dict()))
    assert body["code"] == "mx-not-covered"
    assert body["policies"][0]["version"] == 2
    assert body["facts"][0]["host"] == "mail.example.org"
    assert set(body) == {"code", "text", "title", "checked_at", "policies", "facts"}
