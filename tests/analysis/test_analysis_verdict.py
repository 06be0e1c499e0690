"""The enforce-readiness verdict over all stored history (RFC 8461 §5.1:
enforce refuses delivery on policy failures): sts sessions only, a clean
stretch since the last blocking failure or change, the live state of the
latest check, and the enforce policy to publish."""

from __future__ import annotations

import datetime as dt
from datetime import date, timedelta
from typing import Any

import orjson
import pytest

from tlsrpt.analysis.live import LiveCheck, SetupChange, last_change
from tlsrpt.analysis.period import ALL, RollupRow
from tlsrpt.analysis.readiness import (
    LastFailure,
    ReadinessConfig,
    ReportedPolicy,
    Verdict,
    domain_verdict,
)
from tlsrpt.records import parse_sts_policy, parse_sts_record

DOMAIN = "example.org"
TODAY = date(2026, 12, 9)
FIXED = date(2026, 11, 12)  # the bad MX was fixed that day
GOOGLE, MICROSOFT, SMALL = "Google Inc.", "Microsoft Corporation", "mx.example-isp.net"


def day_rows(
    day: date,
    org: str,
    ok: int,
    policy_type: str = "sts",
    failures: dict[str, int] | None = None,
) -> list[RollupRow]:
    """The roll-up rows one report of `org` adds on `day` (as the ingest does)."""
    failed = sum((failures or {}).values())
    rows = [
        RollupRow(DOMAIN, day, org, ALL, ALL, 1, ok, failed),
        RollupRow(DOMAIN, day, org, policy_type, ALL, 1, ok, failed),
    ]
    rows += [
        RollupRow(DOMAIN, day, org, policy_type, t, 1, 0, n) for t, n in (failures or {}).items()
    ]
    return rows


def history(
    first: date,
    last: date,
    orgs: tuple[str, ...] = (GOOGLE, MICROSOFT),
    broken_until: date | None = None,
    policy_type: str = "sts",
) -> list[RollupRow]:
    """Daily reports from `first` to `last`; before `broken_until` each has
    a validation-failure (an MX outside the policy)."""
    rows: list[RollupRow] = []
    day = first
    while day <= last:
        for org in orgs:
            bad = broken_until is not None and day < broken_until
            rows += day_rows(day, org, 500, policy_type, {"validation-failure": 5} if bad else None)
        day += timedelta(days=1)
    return rows


def checks(readiness: Any) -> dict[str, Any]:
    return {r.check: r for r in readiness.reasons}


def failed(readiness: Any) -> set[str]:
    return {r.check for r in readiness.problems}


def snapshot(
    *,
    mx: tuple[str, ...] = ("mx1.example.org", "mx2.example.org"),
    patterns: tuple[str, ...] = ("mx1.example.org", "mx2.example.org"),
    max_age: int = 604800,
    not_after: str = "2027-06-01T00:00:00Z",
    policy_status: int | None = 200,
    policy_error: str | None = None,
    sts_id: str = "20261101",
    findings: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A snapshot as `tlsrpt.watch.snapshot.take_snapshot` makes them."""
    valid = policy_status == 200 and policy_error is None
    cert = {"subject": "CN=x", "sans": [], "issuer": "CN=ca", "not_after": not_after, "sha256": "0"}
    return {
        "tlsrpt": {"records": ["v=TLSRPTv1; rua=mailto:r@example.org"], "status": "ok"},
        "sts": {"records": [f"v=STSv1; id={sts_id}"], "status": "ok", "id": sts_id},
        "policy": {
            "url": f"https://mta-sts.{DOMAIN}/.well-known/mta-sts.txt",
            "status": policy_status,
            "error": policy_error,
            "text": None,
            "mode": "testing" if valid else None,
            "mx": sorted(patterns) if valid else [],
            "max_age": max_age if valid else None,
            "certificate": None,
        },
        "mx": [
            {
                "host": host,
                "preference": 10 * (i + 1),
                "addresses": [f"192.0.2.{i + 1}"],
                "tls": [
                    {
                        "address": f"192.0.2.{i + 1}",
                        "starttls": True,
                        "tls_version": "TLSv1.3",
                        "error": None,
                        "certificate": {**cert, "sans": [host]},
                    }
                ],
                "tlsa": [],
                "tlsa_status": "nxdomain",
            }
            for i, host in enumerate(mx)
        ],
        "findings": findings or [],
    }


def live(snap: dict[str, Any], day: date = TODAY) -> LiveCheck:
    return LiveCheck(snap, dt.datetime.combine(day, dt.time(6, 0), dt.UTC))


FIXED_HISTORY = history(FIXED - timedelta(days=60), TODAY - timedelta(days=1), broken_until=FIXED)


# --- sts sessions only ------------------------------------------------------


def test_a_dane_only_domain_is_insufficient_data_with_its_own_dane_line() -> None:
    rows = history(TODAY - timedelta(days=60), TODAY - timedelta(days=1), policy_type="tlsa")
    rows += day_rows(TODAY - timedelta(days=2), GOOGLE, 0, "tlsa", {"tlsa-invalid": 7})
    r = domain_verdict(DOMAIN, rows, None, None, None, TODAY)
    assert r.verdict == Verdict.INSUFFICIENT_DATA
    reasons = checks(r)
    assert reasons["sessions"].value == 0 and not reasons["sessions"].passed
    assert (
        "DANE (tlsa) and no-policy sessions say nothing about MTA-STS" in reasons["sessions"].text
    )
    dane = reasons["dane"]
    assert dane.passed and dane.value == 29 * 2 * 500 + 7  # the last 30 days: today has none
    assert dane.text.startswith("DANE (tlsa), beside MTA-STS and not evidence for it: 29,007")
    assert "(tlsa-invalid 7)" in dane.text and "fix them anyway" in dane.text
    assert r.clean_since is None and r.large_senders == ()
    assert "blocking-failures" not in failed(r)  # a DANE failure is not lost by STS enforce


def test_no_policy_sessions_are_a_line_beside_and_never_evidence() -> None:
    rows = history(TODAY - timedelta(days=40), TODAY - timedelta(days=1), policy_type=ALL)
    rows = [r for r in rows if r.policy_type == ALL]  # counted in the total only
    rows += history(
        TODAY - timedelta(days=40), TODAY - timedelta(days=1), (SMALL,), None, "no-policy-found"
    )
    r = domain_verdict(DOMAIN, rows, None, None, None, TODAY)
    assert r.verdict == Verdict.INSUFFICIENT_DATA
    assert checks(r)["sessions"].value == 0
    assert checks(r)["no-policy"].value == 29 * 500


# --- recency ------------------------------------------------------------------


def test_a_domain_fixed_on_11_12_is_clean_since_11_12() -> None:
    r = domain_verdict(DOMAIN, FIXED_HISTORY, None, None, None, TODAY)
    assert r.verdict == Verdict.READY
    assert r.clean_since == FIXED
    clean = checks(r)["clean-since"]
    assert (clean.value, clean.threshold) == (27, 14)
    assert clean.text.startswith(
        "clean since 2026-11-12 (27 days, 27,000 sessions, 27 days with reports, reporters "
        "Google Inc., Microsoft Corporation)"
    )
    blocking = checks(r)["blocking-failures"]
    assert blocking.passed and blocking.value == "2026-11-11"
    assert "validation-failure" in blocking.text


@pytest.mark.parametrize("fetched_days", [28, 30, 60, 90, 400])
def test_the_verdict_does_not_depend_on_how_much_older_history_is_given(
    fetched_days: int,
) -> None:
    """Given the last failure of all history, the rows since the clean start
    decide: older rows (a longer period on a page) change nothing."""
    given = [r for r in FIXED_HISTORY if r.day > TODAY - timedelta(days=fetched_days)]
    last = LastFailure(FIXED - timedelta(days=1), ("validation-failure",))
    r = domain_verdict(DOMAIN, given, last, None, None, TODAY)
    assert r == domain_verdict(DOMAIN, FIXED_HISTORY, None, None, None, TODAY)
    assert r.clean_since == FIXED and r.verdict == Verdict.READY


def test_not_enough_days_since_the_fix_is_not_ready_and_says_how_many_remain() -> None:
    today = FIXED + timedelta(days=8)
    r = domain_verdict(DOMAIN, FIXED_HISTORY, None, None, None, today)
    assert r.verdict == Verdict.NOT_READY
    assert r.clean_since == FIXED
    assert failed(r) == {"clean-since", "blocking-failures"}
    clean = checks(r)["clean-since"]
    assert (clean.value, clean.threshold) == (8, 14)
    assert clean.text.startswith("clean since 2026-11-12 (8 days,")
    assert clean.text.endswith(": 6 days to go")
    assert checks(r)["blocking-failures"].text.endswith("8 clean days since, 14 needed")


def test_the_policy_max_age_sets_the_days_needed() -> None:
    reported = ReportedPolicy(TODAY, "testing", ("mx1.example.org",), 30 * 86400)
    r = domain_verdict(DOMAIN, FIXED_HISTORY, None, None, None, TODAY, reported=reported)
    clean = checks(r)["clean-since"]
    assert (clean.value, clean.threshold) == (27, 30)
    assert "the max_age of the policy senders reported on 2026-12-09, 2,592,000 s" in clean.text
    assert clean.text.endswith(": 3 days to go")
    assert r.verdict == Verdict.NOT_READY  # the failure is 28 days old, 30 needed


def test_a_recent_policy_or_mx_change_is_insufficient_data() -> None:
    rows = history(TODAY - timedelta(days=60), TODAY - timedelta(days=1))
    change = SetupChange(TODAY - timedelta(days=5), "MX mx3.example.org added")
    r = domain_verdict(DOMAIN, rows, None, change, None, TODAY)
    assert r.verdict == Verdict.INSUFFICIENT_DATA
    assert failed(r) == {"clean-since", "policy-change"}
    assert r.clean_since == change.day
    assert checks(r)["policy-change"].value == change.day.isoformat()
    assert "MX mx3.example.org added" in checks(r)["policy-change"].text
    # A plain day works too.
    assert domain_verdict(DOMAIN, rows, None, change.day, None, TODAY).clean_since == change.day


def test_missing_large_reporters_are_insufficient_data() -> None:
    rows = history(TODAY - timedelta(days=60), TODAY - timedelta(days=1), (SMALL,))
    r = domain_verdict(DOMAIN, rows, None, None, None, TODAY)
    assert r.verdict == Verdict.INSUFFICIENT_DATA
    assert failed(r) == {"large-senders"}
    large = checks(r)["large-senders"]
    assert (large.value, large.threshold) == ([], 1)
    # Google reported only before the clean start: it is not evidence since.
    rows += history(TODAY - timedelta(days=60), TODAY - timedelta(days=30), (GOOGLE,))
    failure = LastFailure(TODAY - timedelta(days=20), ("certificate-expired",))
    again = domain_verdict(DOMAIN, rows, failure, None, None, TODAY)
    assert "large-senders" in failed(again) and again.large_senders == ()


def test_reports_that_stopped_are_insufficient_data() -> None:
    rows = history(TODAY - timedelta(days=60), TODAY - timedelta(days=10))
    r = domain_verdict(DOMAIN, rows, None, None, None, TODAY)
    assert failed(r) == {"recent-reports"}
    assert checks(r)["recent-reports"].value == (TODAY - timedelta(days=10)).isoformat()
    assert r.verdict == Verdict.INSUFFICIENT_DATA


def test_a_failure_today_leaves_no_clean_day() -> None:
    rows = history(TODAY - timedelta(days=30), TODAY, broken_until=TODAY + timedelta(days=1))
    r = domain_verdict(DOMAIN, rows, None, None, None, TODAY)
    assert r.verdict == Verdict.NOT_READY and r.clean_since is None
    assert checks(r)["clean-since"].value == 0


def test_rows_after_today_and_of_other_domains_are_ignored() -> None:
    later = day_rows(TODAY + timedelta(days=1), GOOGLE, 10, failures={"certificate-expired": 3})
    other = [
        RollupRow("other.test", TODAY, GOOGLE, "sts", "certificate-expired", 1, 0, 9),
    ]
    base = domain_verdict(DOMAIN, FIXED_HISTORY, None, None, None, TODAY)
    assert domain_verdict(DOMAIN, FIXED_HISTORY + later + other, None, None, None, TODAY) == base


def test_unregistered_types_block_and_dane_types_under_sts_do_not() -> None:
    rows = history(TODAY - timedelta(days=60), TODAY - timedelta(days=1))
    odd = rows + day_rows(TODAY - timedelta(days=3), GOOGLE, 0, failures={"weird-type": 1})
    assert domain_verdict(DOMAIN, odd, None, None, None, TODAY).verdict == Verdict.NOT_READY
    dane = rows + day_rows(TODAY - timedelta(days=3), GOOGLE, 900, failures={"dnssec-invalid": 1})
    assert domain_verdict(DOMAIN, dane, None, None, None, TODAY).verdict == Verdict.READY


def test_a_high_sts_failure_rate_is_not_ready() -> None:
    rows = []
    for n in range(1, 30):
        day = TODAY - timedelta(days=n)
        rows += [
            RollupRow(DOMAIN, day, GOOGLE, ALL, ALL, 1, 90, 10),
            RollupRow(DOMAIN, day, GOOGLE, "sts", ALL, 1, 90, 10),  # failures without details
        ]
    r = domain_verdict(DOMAIN, rows, None, None, None, TODAY)
    assert failed(r) == {"failure-rate"} and r.verdict == Verdict.NOT_READY
    assert checks(r)["failure-rate"].value == pytest.approx(0.1)
    assert checks(r)["failure-rate"].threshold == 0.01


# --- live state ---------------------------------------------------------------


READY_ROWS = history(TODAY - timedelta(days=60), TODAY - timedelta(days=1))


def test_a_live_check_that_passes_keeps_the_domain_ready() -> None:
    r = domain_verdict(DOMAIN, READY_ROWS, None, None, live(snapshot()), TODAY)
    assert r.verdict == Verdict.READY
    reasons = checks(r)
    assert reasons["mx-coverage"].passed and reasons["mx-coverage"].value == []
    assert reasons["mx-certificates"].threshold == "2026-12-16"  # today plus the max_age
    assert reasons["policy-host"].passed and "mta-sts.example.org" in reasons["policy-host"].text


def test_an_mx_the_policy_does_not_cover_is_not_ready_and_named() -> None:
    snap = snapshot(mx=("mx1.example.org", "mx2.example.org", "mx3.backup.example"))
    r = domain_verdict(DOMAIN, READY_ROWS, None, None, live(snap), TODAY)
    assert r.verdict == Verdict.NOT_READY
    assert failed(r) == {"mx-coverage"}
    coverage = checks(r)["mx-coverage"]
    assert coverage.value == ["mx3.backup.example"]
    assert coverage.threshold == ["mx1.example.org", "mx2.example.org"]
    assert coverage.text.startswith("MX mx3.backup.example not covered by the policy's mx")
    # The enforce policy to publish covers it.
    assert r.enforce_policy is not None
    assert r.enforce_policy.mx == ("mx1.example.org", "mx2.example.org", "mx3.backup.example")


def test_an_mx_certificate_expiring_within_the_max_age_is_not_ready() -> None:
    snap = snapshot(not_after="2026-12-12T00:00:00Z")  # in 3 days; max_age a week
    r = domain_verdict(DOMAIN, READY_ROWS, None, None, live(snap), TODAY)
    assert r.verdict == Verdict.NOT_READY and failed(r) == {"mx-certificates"}
    certs = checks(r)["mx-certificates"]
    assert certs.value == ["mx1.example.org", "mx2.example.org"]
    assert certs.threshold == "2026-12-16"
    assert "the certificate at 192.0.2.1 expires 2026-12-12" in certs.text
    # Valid past today + max_age: fine.
    fine = snapshot(not_after="2026-12-17T00:00:00Z")
    assert domain_verdict(DOMAIN, READY_ROWS, None, None, live(fine), TODAY).verdict == "ready"


def test_a_failing_mx_certificate_finding_is_not_ready() -> None:
    finding = {
        "code": "mx-certificate-untrusted",
        "severity": "warning",
        "subject": "mx2.example.org",
        "message": "the certificate of MX mx2.example.org does not chain to a trusted root",
    }
    r = domain_verdict(DOMAIN, READY_ROWS, None, None, live(snapshot(findings=[finding])), TODAY)
    assert failed(r) == {"mx-certificates"}
    assert checks(r)["mx-certificates"].value == ["mx2.example.org"]


def test_a_failing_policy_host_is_not_ready() -> None:
    snap = snapshot(policy_status=None, policy_error="connection refused")
    r = domain_verdict(DOMAIN, READY_ROWS, None, None, live(snap), TODAY)
    assert r.verdict == Verdict.NOT_READY and failed(r) == {"policy-host"}
    host = checks(r)["policy-host"]
    assert (host.value, host.threshold) == ("connection refused", 200)
    assert host.text.startswith("mta-sts.example.org fails in the check of 2026-12-09 06:00 UTC")
    answers_404 = snapshot(policy_status=404)
    assert (
        checks(domain_verdict(DOMAIN, READY_ROWS, None, None, live(answers_404), TODAY))[
            "policy-host"
        ].value
        == 404
    )


def test_no_mta_sts_record_is_insufficient_data() -> None:
    snap = snapshot()
    snap["sts"] = {"records": [], "status": "nxdomain", "id": None}
    snap["policy"] = None
    r = domain_verdict(DOMAIN, READY_ROWS, None, None, live(snap), TODAY)
    assert r.verdict == Verdict.INSUFFICIENT_DATA and failed(r) == {"policy-published"}


def test_an_old_check_is_not_live_state() -> None:
    stale = live(snapshot(mx=("mx9.elsewhere.example",)), TODAY - timedelta(days=5))
    r = domain_verdict(DOMAIN, READY_ROWS, None, None, stale, TODAY)
    assert r.verdict == Verdict.READY
    note = checks(r)["live-check"]
    assert note.passed and note.value == "2026-12-04T06:00:00Z" and note.threshold == 2
    assert "mx-coverage" not in checks(r)


def test_the_checked_policy_max_age_sets_the_days_needed() -> None:
    snap = snapshot(max_age=21 * 86400, not_after="2027-06-01T00:00:00Z")
    r = domain_verdict(DOMAIN, FIXED_HISTORY, None, None, live(snap), TODAY)
    assert checks(r)["clean-since"].threshold == 21
    assert "the max_age of the checked policy, 1,814,400 s" in checks(r)["clean-since"].text
    assert r.verdict == Verdict.READY  # 27 clean days
    assert checks(r)["mx-certificates"].threshold == "2026-12-30"


# --- the enforce policy ---------------------------------------------------------


def test_the_enforce_policy_from_the_snapshot_is_valid_and_exact() -> None:
    r = domain_verdict(DOMAIN, READY_ROWS, None, None, live(snapshot()), TODAY)
    policy = r.enforce_policy
    assert policy is not None and policy.source == "snapshot"
    assert policy.text == (
        "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.org\r\nmx: mx2.example.org\r\n"
        "max_age: 604800\r\n"
    )
    parsed, problems = parse_sts_policy(policy.text, strict=True)
    assert parsed is not None and parsed.mode == "enforce" and not problems
    (record,) = policy.records()
    assert record["name"] == "_mta-sts.example.org" and record["type"] == "TXT"
    parsed_record, _ = parse_sts_record(record["value"])
    assert parsed_record is not None and parsed_record.id == "20261209enforce"
    body = r.as_dict()["enforce_policy"]
    assert body["source"] == "snapshot" and body["url"].startswith("https://mta-sts.example.org/")


def test_the_enforce_policy_from_reports_without_a_check() -> None:
    reported = ReportedPolicy(TODAY, "testing", ("*.mx.example.org",), 86400)
    r = domain_verdict(DOMAIN, READY_ROWS, None, None, None, TODAY, reported=reported)
    assert r.enforce_policy is not None and r.enforce_policy.source == "reports"
    assert r.enforce_policy.mx == ("*.mx.example.org",)
    assert domain_verdict(DOMAIN, READY_ROWS, None, None, None, TODAY).enforce_policy is None


def test_every_reason_carries_value_and_threshold_as_json() -> None:
    config = ReadinessConfig(min_days=20)
    r = domain_verdict(DOMAIN, FIXED_HISTORY, None, None, live(snapshot()), TODAY, config)
    body = orjson.loads(orjson.dumps(r.as_dict()))
    assert set(body) == {"verdict", "reasons", "clean_since", "large_senders", "enforce_policy"}
    assert body["clean_since"] == "2026-11-12"
    for reason in body["reasons"]:
        assert set(reason) == {"check", "passed", "text", "value", "threshold"}
    assert {x["check"]: x["threshold"] for x in body["reasons"]}["clean-since"] == 20


# --- the last policy or MX change from snapshots ------------------------------------


def _at(day: date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(3), dt.UTC)


def test_last_change_finds_policy_and_mx_changes_but_not_outages() -> None:
    d = [date(2026, 11, n) for n in (1, 5, 9, 20, 25)]
    states = [
        (_at(d[0]), snapshot()),
        (_at(d[1]), snapshot(sts_id="20261105", patterns=("*.example.org",))),
        (
            _at(d[2]),
            snapshot(
                sts_id="20261105",
                patterns=("*.example.org",),
                mx=("mx1.example.org", "mx2.example.org", "mx3.example.org"),
            ),
        ),
        (_at(d[3]), snapshot(policy_status=503, mx=())),  # outages: they say nothing
        (
            _at(d[4]),
            snapshot(
                sts_id="20261105",
                patterns=("*.example.org",),
                mx=("mx1.example.org", "mx2.example.org", "mx3.example.org"),
                not_after="2027-09-01T00:00:00Z",
            ),
        ),  # a renewal: no change
    ]
    change = last_change(states)
    assert change == SetupChange(d[2], "MX mx3.example.org added")
    first = last_change(states[:2])
    assert first is not None and first.day == d[1]
    assert "policy id 20261101 -> 20261105" in first.summary
    assert "policy mx mx1.example.org, mx2.example.org -> *.example.org" in first.summary
    assert last_change(states[:1]) is None and last_change([]) is None
