"""Alert conditions from checks and from changes: every rule, holding and
not holding, thresholds, overrides and the expiry crossings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tlsrpt.analysis.alert_model import AlertState, Condition
from tlsrpt.analysis.alert_settings import parse_alert_settings
from tlsrpt.analysis.alerts import (
    CheckFacts,
    change_conditions,
    check_conditions,
    expiry_level,
    facts_from_check,
    facts_from_snapshot,
    finding_subject,
    iso,
)
from tlsrpt.check.findings import Finding, Severity
from tlsrpt.watch.changes import Change

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULES = parse_alert_settings(None).for_domain("example.com")


def _expiring(days: float, host: str = "mx1.example.com", severity: Severity = Severity.WARNING):
    not_after = NOW + timedelta(days=days)
    return Finding(
        "mx-certificate-expiring",
        severity,
        f"the certificate of MX {host} expires on {not_after:%Y-%m-%d}, in {int(days)} days",
        {"host": host, "certificate": {"not_after": not_after.isoformat()}, "days_left": int(days)},
        f"renew the certificate of {host}",
    )


def _state(condition: Condition, **changes: Any) -> AlertState:
    values: dict[str, Any] = {
        "id": 1,
        "rule": condition.rule,
        "subject": condition.subject,
        "phase": "firing",
        "severity": condition.severity,
        "summary": condition.summary,
        "explanation": condition.explanation,
        "fix": condition.fix,
        "evidence": dict(condition.evidence),
        "level": condition.level,
        "notified": True,
        "notified_level": condition.level,
        "first_seen": NOW,
        "resolved_at": None,
        "events": 1,
    }
    values.update(changes)
    return AlertState(**values)


# --- findings -----------------------------------------------------------------


def test_warning_and_error_findings_become_alerts_info_does_not() -> None:
    findings = [
        Finding(
            "sts-policy-fetch-failed",
            Severity.ERROR,
            "the policy could not be fetched",
            {"url": "https://mta-sts.example.com/.well-known/mta-sts.txt", "status": 404},
            "serve it",
        ),
        Finding(
            "sts-mx-not-covered", Severity.WARNING, "mx2 not covered", {"host": "mx2.example.com"}
        ),
        Finding("sts-mode-testing", Severity.INFO, "testing", {"mode": "testing"}),
        Finding(
            "tlsrpt-record-missing",
            Severity.WARNING,
            "no record",
            {"name": "_smtp._tls.example.com"},
        ),
    ]
    found = check_conditions(findings, CheckFacts(), RULES, NOW, {"sts-mx-not-covered": "meaning"})
    assert [(c.rule, c.subject, c.severity) for c in found] == [
        ("sts-policy-fetch-failed", "mta-sts.example.com", "error"),
        ("sts-mx-not-covered", "mx2.example.com", "warning"),
        ("tlsrpt-record-missing", "_smtp._tls.example.com", "warning"),
    ]
    assert found[1].explanation == "meaning"
    assert found[0].fix == "serve it"
    assert found[0].evidence["status"] == 404


def test_finding_subject_prefers_host_then_uri_name_url() -> None:
    assert finding_subject({"host": "mx.example.com", "name": "x"}) == "mx.example.com"
    assert finding_subject({"uri": "mailto:a@example.com"}) == "mailto:a@example.com"
    assert finding_subject({"url": "https://mta-sts.example.com:8443/p"}) == "mta-sts.example.com"
    assert finding_subject({"position": 3}) == ""


def test_same_code_and_subject_is_one_alert_the_first() -> None:
    findings = [
        Finding("sts-policy-max-age-short", Severity.WARNING, "first", {"position": 1}),
        Finding("sts-policy-max-age-short", Severity.WARNING, "second", {"position": 9}),
    ]
    (only,) = check_conditions(findings, CheckFacts(), RULES, NOW)
    assert only.summary == "first"


def test_a_disabled_finding_code_makes_no_alert_globally_or_per_domain() -> None:
    finding = Finding("sts-mode-none", Severity.WARNING, "mode none", {"mode": "none"})
    off = parse_alert_settings(
        {"rules": {"sts-mode-none": {"enabled": False}}}, {"sts-mode-none"}
    ).for_domain("example.com")
    assert check_conditions([finding], CheckFacts(), off, NOW) == []
    per_domain = parse_alert_settings(
        {"domains": {"example.com": {"rules": {"sts-mode-none": {"enabled": False}}}}},
        {"sts-mode-none"},
    )
    assert (
        check_conditions([finding], CheckFacts(), per_domain.for_domain("example.com"), NOW) == []
    )
    assert (
        len(check_conditions([finding], CheckFacts(), per_domain.for_domain("other.example"), NOW))
        == 1
    )


@pytest.mark.parametrize(
    ("days", "level"),
    [
        (45, None),
        (30.5, None),
        (30, 30),
        (29.9, 30),
        (14.5, 30),
        (14, 14),
        (13, 14),
        (7, 7),
        (3, 7),
        (1, 1),
        (0.2, 1),
        (-1, None),
    ],
)
def test_expiry_levels_30_14_7_1(days: float, level: int | None) -> None:
    assert expiry_level(NOW + timedelta(days=days), NOW, (30, 14, 7, 1)) == level


@pytest.mark.parametrize(("days", "level"), [(29, 30), (12, 14), (6, 7), (0.5, 1)])
def test_expiring_mx_certificate_carries_its_level(days: float, level: int) -> None:
    (found,) = check_conditions([_expiring(days)], CheckFacts(), RULES, NOW)
    assert (found.rule, found.subject, found.level) == (
        "mx-certificate-expiring",
        "mx1.example.com",
        level,
    )


def test_expiring_beyond_the_largest_threshold_or_info_is_no_alert() -> None:
    assert check_conditions([_expiring(40)], CheckFacts(), RULES, NOW) == []
    assert check_conditions([_expiring(5, severity=Severity.INFO)], CheckFacts(), RULES, NOW) == []


def test_a_finding_that_fell_to_info_keeps_its_firing_alert() -> None:
    """An expiring certificate is "info" while the MTA-STS policy cannot be
    fetched: its alert stays firing, at its severity, instead of resolving
    (and firing again once the policy is back)."""
    (opened,) = check_conditions([_expiring(29)], CheckFacts(), RULES, NOW)
    info = _expiring(28, severity=Severity.INFO)
    active = {opened.key: _state(opened)}
    (held,) = check_conditions([info], CheckFacts(), RULES, NOW, active=active)
    assert (held.key, held.severity, held.level) == (opened.key, "warning", 30)
    assert check_conditions([info], CheckFacts(), RULES, NOW) == []  # never opens one
    # Beyond every threshold (renewed) it resolves, whatever its severity.
    renewed = _expiring(90, severity=Severity.INFO)
    assert check_conditions([renewed], CheckFacts(), RULES, NOW, active=active) == []


def test_expiry_thresholds_are_configurable_per_domain() -> None:
    settings = parse_alert_settings(
        {
            "rules": {"mx-certificate-expiring": {"days": [60, 10]}},
            "domains": {"example.com": {"rules": {"mx-certificate-expiring": {"days": [5]}}}},
        }
    )
    (other,) = check_conditions(
        [_expiring(40)], CheckFacts(), settings.for_domain("other.example"), NOW
    )
    assert other.level == 60
    assert (
        check_conditions([_expiring(40)], CheckFacts(), settings.for_domain("example.com"), NOW)
        == []
    )
    (close,) = check_conditions(
        [_expiring(4)], CheckFacts(), settings.for_domain("example.com"), NOW
    )
    assert close.level == 5


def test_expiring_without_certificate_uses_days_left() -> None:
    finding = Finding(
        "mx-certificate-expiring", Severity.WARNING, "soon", {"host": "mx", "days_left": 6}
    )
    (found,) = check_conditions([finding], CheckFacts(), RULES, NOW)
    assert found.level == 7


def test_policy_host_certificate_is_watched_like_an_mx() -> None:
    def facts(days: float) -> CheckFacts:
        return CheckFacts(
            policy_host="mta-sts.example.com",
            policy_certificate={"not_after": iso(NOW + timedelta(days=days)), "sha256": "ab"},
        )

    (found,) = check_conditions([], facts(13), RULES, NOW)
    assert (found.rule, found.subject, found.level, found.severity) == (
        "sts-policy-host-certificate-expiring",
        "mta-sts.example.com",
        14,
        "warning",
    )
    assert "in 13 days" in found.summary
    assert check_conditions([], facts(31), RULES, NOW) == []
    assert check_conditions([], facts(-2), RULES, NOW) == []  # expired: the checker's finding
    assert check_conditions([], CheckFacts(), RULES, NOW) == []
    off = parse_alert_settings(
        {"rules": {"sts-policy-host-certificate-expiring": {"enabled": False}}}
    )
    assert check_conditions([], facts(3), off.for_domain("example.com"), NOW) == []


SNAPSHOT = {
    "tlsrpt": {"records": ["v=TLSRPTv1; rua=mailto:tls@example.com"], "status": "ok"},
    "sts": {"records": ["v=STSv1; id=20261201"], "status": "ok", "id": "20261201"},
    "policy": {
        "url": "https://mta-sts.example.com/.well-known/mta-sts.txt",
        "status": 200,
        "error": None,
        "text": "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 86400\n",
        "mode": "enforce",
        "mx": ["mx1.example.com"],
        "max_age": 86400,
        "certificate": {"not_after": "2027-01-01T00:00:00Z", "sha256": "aa"},
    },
    "mx": [
        {"host": "mx1.example.com", "preference": 10},
        {"host": "mx2.example.com", "preference": 20},
    ],
    "findings": [],
}


def test_facts_from_a_snapshot_and_from_a_check_report() -> None:
    facts = facts_from_snapshot(SNAPSHOT)
    assert facts.sts_id == "20261201"
    assert facts.mode == "enforce"
    assert facts.patterns == ("mx1.example.com",)
    assert facts.mx_hosts == ("mx1.example.com", "mx2.example.com")
    assert facts.policy_host == "mta-sts.example.com"
    assert facts.policy_certificate is not None
    from_check = facts_from_check(
        {
            "id": "7",
            "policy": {
                "url": "https://mta-sts.example.net/x",
                "mode": "testing",
                "mx": ["*.example.net"],
                "max_age": 600,
            },
        },
        [{"host": "a.example.net"}],
        {"records": ["v=TLSRPTv1; rua=mailto:x@example.net"]},
    )
    assert (from_check.sts_id, from_check.mode, from_check.max_age) == ("7", "testing", 600)
    assert from_check.policy_host == "mta-sts.example.net"
    assert from_check.policy_certificate is None
    assert from_check.tlsrpt_records == ("v=TLSRPTv1; rua=mailto:x@example.net",)


# --- changes --------------------------------------------------------------------


def test_policy_changed_without_id_change_holds_until_the_id_changes() -> None:
    facts = facts_from_snapshot(SNAPSHOT)
    change = Change(
        "sts-policy-changed-without-id-change",
        None,
        "policy mx changed, id unchanged",
        {"before": 1},
    )
    (found,) = change_conditions([change], facts, {}, RULES, NOW)
    assert found.rule == "sts-policy-changed-without-id-change"
    assert found.subject == ""
    assert found.severity == "warning"
    assert found.evidence["id"] == "20261201"
    assert found.evidence["until"] == iso(NOW + timedelta(seconds=86400))
    active = {found.key: _state(found)}
    later = NOW + timedelta(hours=6)
    (held,) = change_conditions([], facts, active, RULES, later)
    assert held.summary == found.summary
    new_id = CheckFacts(sts_id="20261202", mode="enforce", max_age=86400)
    assert change_conditions([], new_id, active, RULES, later) == []
    assert change_conditions([], facts, active, RULES, NOW + timedelta(days=1, seconds=1)) == []
    assert change_conditions([], facts, {}, RULES, later) == []


def test_mx_set_changed_says_whether_the_policy_covers_the_new_set() -> None:
    change = Change("mx-added", "mx2.example.com", "mx2.example.com added")
    (uncovered,) = change_conditions([change], facts_from_snapshot(SNAPSHOT), {}, RULES, NOW)
    assert uncovered.rule == "mx-set-changed"
    assert uncovered.severity == "error"  # enforce
    assert [u["host"] for u in uncovered.evidence["uncovered"]] == ["mx2.example.com"]
    assert "does not cover mx2.example.com" in uncovered.summary
    assert uncovered.fix is not None

    testing = CheckFacts(
        mode="testing",
        patterns=("mx1.example.com",),
        mx_hosts=("mx1.example.com", "mx9.example.com"),
    )
    (warn,) = change_conditions([change], testing, {}, RULES, NOW)
    assert warn.severity == "warning"

    covered = CheckFacts(
        mode="enforce", patterns=("*.example.com",), mx_hosts=("mx1.example.com", "mx2.example.com")
    )
    (info,) = change_conditions(
        [Change("mx-removed", "mx3.example.com", "mx3 removed")], covered, {}, RULES, NOW
    )
    assert info.severity == "info"
    assert info.evidence["uncovered"] == []
    assert "covers every MX" in info.summary
    assert "mx3 removed" in info.summary


def test_mx_set_changed_holds_while_uncovered_else_for_hold() -> None:
    change = Change("mx-set-changed", None, "MX set changed")
    covered = CheckFacts(mode="enforce", patterns=("*.example.com",), mx_hosts=("mx1.example.com",))
    (info,) = change_conditions([change], covered, {}, RULES, NOW)
    active = {info.key: _state(info)}
    assert len(change_conditions([], covered, active, RULES, NOW + timedelta(days=2))) == 1
    assert change_conditions([], covered, active, RULES, NOW + timedelta(days=3, seconds=1)) == []
    uncovered = CheckFacts(
        mode="enforce",
        patterns=("mx1.example.com",),
        mx_hosts=("mx1.example.com", "mx2.example.net"),
    )
    (still,) = change_conditions([], uncovered, active, RULES, NOW + timedelta(days=10))
    assert still.severity == "error"
    short = parse_alert_settings({"rules": {"mx-set-changed": {"hold": "1h"}}}).for_domain(
        "x.example"
    )
    (fresh,) = change_conditions([change], covered, {}, short, NOW)
    assert (
        change_conditions([], covered, {fresh.key: _state(fresh)}, short, NOW + timedelta(hours=2))
        == []
    )


def test_tlsrpt_record_changed_holds_for_its_hold() -> None:
    facts = facts_from_snapshot(SNAPSHOT)
    change = Change(
        "tlsrpt-record-changed", None, "TLS-RPT record changed: a -> b", {"before": "a"}
    )
    (found,) = change_conditions([change], facts, {}, RULES, NOW)
    assert (found.rule, found.severity, found.summary) == (
        "tlsrpt-record-changed",
        "warning",
        "TLS-RPT record changed: a -> b",
    )
    assert found.evidence["records"] == ["v=TLSRPTv1; rua=mailto:tls@example.com"]
    active = {found.key: _state(found)}
    assert len(change_conditions([], facts, active, RULES, NOW + timedelta(days=2))) == 1
    assert change_conditions([], facts, active, RULES, NOW + timedelta(days=4)) == []


def test_other_changes_make_no_alert_and_disabled_change_rules_none() -> None:
    facts = facts_from_snapshot(SNAPSHOT)
    changes = [
        Change("certificate-renewed", "mx1.example.com", "renewed"),
        Change("tlsa-changed", "mx1", "x"),
    ]
    assert change_conditions(changes, facts, {}, RULES, NOW) == []
    off = parse_alert_settings(
        {
            "rules": {
                code: {"enabled": False}
                for code in (
                    "mx-set-changed",
                    "tlsrpt-record-changed",
                    "sts-policy-changed-without-id-change",
                )
            }
        }
    ).for_domain("example.com")
    every = [
        Change("mx-added", "mx2", "added"),
        Change("tlsrpt-record-changed", None, "changed"),
        Change("sts-policy-changed-without-id-change", None, "changed"),
    ]
    assert change_conditions(every, facts, {}, off, NOW) == []


def test_condition_subjects_are_bounded() -> None:
    long = Condition("reporter-silent", "x" * 1000, "warning", "s", "e", None)
    assert len(long.subject) == 255
    assert long.subject.endswith("…")
