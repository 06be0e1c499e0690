"""Alerting wired to the store, on SQLite and PostgreSQL: `after_check`
with real checker findings, `evaluate_report_rules` over reports stored by
the real ingest pipeline, and two processes evaluating at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from tlsrpt.analysis.alert_settings import parse_alert_settings
from tlsrpt.check.evaluate import DomainReport
from tlsrpt.check.findings import Finding, Severity
from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.store.alerts import AlertFilter, events_since, list_alerts, marks
from tlsrpt.store.engine import Store
from tlsrpt.store.users import add_domain
from tlsrpt.watch.alerting import after_check, evaluate_report_rules
from tlsrpt.watch.changes import Change

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
SETTINGS = parse_alert_settings(None)


def check_report(findings: list[Finding], complete: bool = True) -> DomainReport:
    mta_sts = {
        "id": "1",
        "policy": {
            "url": "https://mta-sts.example.com/.well-known/mta-sts.txt",
            "mode": "enforce",
            "mx": ["mx1.example.com"],
            "max_age": 86400,
        },
    }
    mx = [{"host": "mx1.example.com"}, {"host": "mx2.example.com"}]
    return DomainReport("example.com", tuple(findings), {"records": []}, mta_sts, mx, complete, 0.1)


FETCH_FAILED = Finding(
    "sts-policy-fetch-failed",
    Severity.ERROR,
    "the policy at https://mta-sts.example.com/.well-known/mta-sts.txt could not be fetched",
    {"url": "https://mta-sts.example.com/.well-known/mta-sts.txt", "error": "connection refused"},
)
NOT_COVERED = Finding(
    "sts-mx-not-covered", Severity.ERROR, "mx2 not covered", {"host": "mx2.example.com"}
)


def _check(
    store: Store,
    report: DomainReport,
    now: datetime,
    changes: list[Change] | None = None,
    **kw: Any,
):
    with store.write() as conn:
        return after_check(conn, "example.com", report, changes or [], now, SETTINGS, **kw)


def _firing(store: Store) -> list[tuple[str, str | None]]:
    with store.read() as conn:
        return sorted((a["rule"], a["subject"]) for a in list_alerts(conn))


# --- after_check -----------------------------------------------------------------


def test_after_check_opens_dedupes_and_resolves(store: Store) -> None:
    events = _check(store, check_report([FETCH_FAILED, NOT_COVERED]), NOW)
    assert sorted((e.kind, e.alert["rule"]) for e in events) == [
        ("firing", "sts-mx-not-covered"),
        ("firing", "sts-policy-fetch-failed"),
    ]
    (fetch,) = [e for e in events if e.alert["rule"] == "sts-policy-fetch-failed"]
    assert fetch.alert["subject"] == "mta-sts.example.com"
    assert "could not be fetched" in fetch.alert["explanation"]  # the checker's meaning of the code
    assert _check(store, check_report([FETCH_FAILED, NOT_COVERED]), NOW + timedelta(hours=6)) == []
    # Fixed: resolved at once, notified once the cooldown passed.
    assert _check(store, check_report([NOT_COVERED]), NOW + timedelta(hours=12)) == []
    assert _firing(store) == [("sts-mx-not-covered", "mx2.example.com")]
    (resolved,) = _check(store, check_report([NOT_COVERED]), NOW + timedelta(hours=18))
    assert (resolved.kind, resolved.alert["rule"]) == ("resolved", "sts-policy-fetch-failed")


def test_with_a_zero_cooldown_every_resolve_and_recurrence_is_notified(store: Store) -> None:
    no_cooldown = parse_alert_settings({"cooldown": "0"})

    def check(findings: list[Finding], at: datetime) -> list[tuple[str, int]]:
        with store.write() as conn:
            events = after_check(conn, "example.com", check_report(findings), [], at, no_cooldown)
        return [(e.kind, e.alert["id"]) for e in events]

    ((kind, first),) = check([FETCH_FAILED], NOW)
    assert kind == "firing"
    # Fixed: the resolve is notified by the check that finds it, not hours later.
    assert check([], NOW + timedelta(minutes=5)) == [("resolved", first)]
    # Broken again a minute later: a new alert, announced again (no silent re-open).
    ((kind, second),) = check([FETCH_FAILED], NOW + timedelta(minutes=6))
    assert kind == "firing" and second != first
    with store.read() as conn:
        states = {
            a["id"]: a["state"] for a in list_alerts(conn, AlertFilter(include_resolved=True))
        }
    assert states == {first: "resolved", second: "firing"}


def test_a_partial_check_resolves_no_check_alert(store: Store) -> None:
    _check(store, check_report([FETCH_FAILED, NOT_COVERED]), NOW)
    timeout = Finding("check-timeout", Severity.WARNING, "partial", {"budget": 10})
    _check(store, check_report([timeout], complete=False), NOW + timedelta(hours=6))
    assert _firing(store) == [
        ("check-timeout", None),
        ("sts-mx-not-covered", "mx2.example.com"),
        ("sts-policy-fetch-failed", "mta-sts.example.com"),
    ]


def test_after_check_reads_the_policy_host_certificate_from_the_snapshot(store: Store) -> None:
    snapshot = {
        "sts": {"id": "1"},
        "policy": {
            "url": "https://mta-sts.example.com/.well-known/mta-sts.txt",
            "mode": "enforce",
            "mx": ["mx1.example.com"],
            "max_age": 86400,
            "certificate": {"not_after": "2026-12-20T00:00:00Z", "sha256": "ab"},
        },
        "mx": [{"host": "mx1.example.com"}],
    }
    (event,) = _check(store, check_report([]), NOW, snapshot=snapshot)
    assert (event.alert["rule"], event.alert["subject"], event.alert["level"]) == (
        "sts-policy-host-certificate-expiring",
        "mta-sts.example.com",
        14,
    )
    (again,) = _check(store, check_report([]), NOW + timedelta(days=4), snapshot=snapshot)
    assert (again.key.endswith("-2"), again.alert["level"]) == (True, 7)
    # Without a snapshot the certificate is unknown: the alert stays.
    assert _check(store, check_report([]), NOW + timedelta(days=5)) == []
    assert _firing(store) == [("sts-policy-host-certificate-expiring", "mta-sts.example.com")]
    # Renewed: the snapshot's certificate is far from expiry, the alert resolves.
    renewed = {
        **snapshot,
        "policy": {**snapshot["policy"], "certificate": {"not_after": "2027-06-01T00:00:00Z"}},
    }
    _check(store, check_report([]), NOW + timedelta(days=6), snapshot=renewed)
    assert _firing(store) == []


def test_after_check_change_rules(store: Store) -> None:
    changes = [Change("mx-added", "mx2.example.com", "mx2.example.com added (preference 20)")]
    (event,) = _check(store, check_report([]), NOW, changes)
    assert event.alert["rule"] == "mx-set-changed"
    assert event.alert["severity"] == "error"  # mx2 is outside the enforce policy
    assert event.alert["evidence"]["uncovered"][0]["host"] == "mx2.example.com"
    # Later checks without changes: still uncovered, still firing.
    assert _check(store, check_report([]), NOW + timedelta(days=5)) == []
    assert _firing(store) == [("mx-set-changed", None)]


# --- report rules -------------------------------------------------------------------


def report(
    domain: str,
    day: date,
    report_id: str,
    ok: int,
    failed: int,
    org: str = "Google LLC",
    result: str = "certificate-expired",
    mx: str = "mx2.example.com",
) -> bytes:
    details = (
        [{"result-type": result, "failed-session-count": failed, "receiving-mx-hostname": mx}]
        if failed
        else []
    )
    return orjson.dumps(
        {
            "organization-name": org,
            "date-range": {
                "start-datetime": f"{day}T00:00:00Z",
                "end-datetime": f"{day}T23:59:59Z",
            },
            "contact-info": "smtp-tls-reporting@google.com",
            "report-id": report_id,
            "policies": [
                {
                    "policy": {
                        "policy-type": "sts",
                        "policy-string": ["version: STSv1", "mode: enforce", "mx: *.example.com"],
                        "policy-domain": domain,
                    },
                    "summary": {
                        "total-successful-session-count": ok,
                        "total-failure-session-count": failed,
                    },
                    "failure-details": details,
                }
            ],
        }
    )


def put(store: Store, *bodies: bytes) -> None:
    for body in bodies:
        result = ingest(store, body, SourceInfo("file", "/test/report.json"))
        assert result.outcome == "accepted", result.reason


def days_back(n: int) -> date:
    return NOW.date() - timedelta(days=n)


def test_report_rules_open_on_new_reports_and_resolve_as_time_passes(store: Store) -> None:
    put(store, *(report("example.com", days_back(n), f"clean-{n}", 1000, 0) for n in range(2, 16)))
    put(store, report("example.com", days_back(1), "bad-1", 800, 200))
    evaluation = evaluate_report_rules(store, NOW, SETTINGS)
    assert "example.com" in evaluation.domains
    assert sorted((e.kind, e.alert["rule"], e.alert["subject"]) for e in evaluation.events) == [
        ("firing", "report-failure-rate", None),
        ("firing", "report-new-failing-mx", "mx2.example.com"),
        ("firing", "report-new-result-type", "certificate-expired"),
    ]
    with store.read() as conn:
        assert marks(conn)["reports"] > 0
    # Nothing new: only the domains with open report alerts are evaluated.
    again = evaluate_report_rules(store, NOW + timedelta(minutes=5), SETTINGS)
    assert again.domains == ("example.com",) and again.events == []
    # Three days on without reports, the failures are outside every window:
    # all three resolve; and now the reports are missing.
    later = NOW + timedelta(days=3)
    evaluate_report_rules(store, later, SETTINGS)
    assert _firing(store) == [("reporter-silent", "Google LLC"), ("reports-missing", None)]
    done = evaluate_report_rules(store, later + timedelta(hours=3), SETTINGS)
    assert sorted((e.kind, e.alert["rule"]) for e in done.events) == [
        ("resolved", "report-failure-rate"),
        ("resolved", "report-new-failing-mx"),
        ("resolved", "report-new-result-type"),
    ]


def test_result_types_and_mx_hosts_seen_before_are_not_new(store: Store) -> None:
    put(store, *(report("example.com", days_back(n), f"clean-{n}", 1000, 0) for n in range(2, 16)))
    put(
        store, report("example.com", days_back(10), "old", 1000, 1, result="", mx="mx1.example.com")
    )
    put(store, report("example.com", days_back(9), "old2", 1000, 1, mx="mx2.example.com"))
    put(store, report("example.com", days_back(1), "now", 1000, 2, result="", mx="mx2.example.com"))
    put(
        store,
        report(
            "example.com",
            days_back(0),
            "now2",
            1000,
            3,
            result="validation-failure",
            mx="mx1.example.com",
            org="Microsoft",
        ),
    )
    events = evaluate_report_rules(store, NOW, SETTINGS).events
    assert [(e.alert["rule"], e.alert["subject"]) for e in events] == [
        ("report-new-result-type", "validation-failure")
    ]


def test_only_touched_domains_are_evaluated_between_full_passes(store: Store) -> None:
    put(
        store,
        report("a.example", days_back(1), "a1", 100, 0),
        report("b.example", days_back(1), "b1", 100, 0),
    )
    first = evaluate_report_rules(store, NOW, SETTINGS)
    # The first pass is a full one ("": the quarantine rule).
    assert first.domains == ("a.example", "b.example", "")
    put(store, report("b.example", days_back(0), "b2", 100, 0))
    second = evaluate_report_rules(store, NOW + timedelta(minutes=1), SETTINGS)
    assert second.domains == ("b.example",)
    third = evaluate_report_rules(store, NOW + timedelta(minutes=2), SETTINGS)
    assert third.domains == ()
    full = evaluate_report_rules(store, NOW + timedelta(hours=2), SETTINGS)
    assert full.domains == ("a.example", "b.example", "")


def test_a_daily_reporter_that_stops_and_missing_reports(store: Store) -> None:
    put(store, *(report("example.com", days_back(n), f"g-{n}", 100, 0) for n in range(4, 20)))
    put(
        store,
        *(report("example.com", days_back(n), f"s-{n}", 10, 0, org="Small ISP") for n in (4, 9)),
    )
    events = evaluate_report_rules(store, NOW, SETTINGS).events
    assert sorted((e.alert["rule"], e.alert["subject"]) for e in events) == [
        ("reporter-silent", "Google LLC"),
        ("reports-missing", None),
    ]
    put(store, report("example.com", days_back(0), "g-0", 100, 0))
    evaluate_report_rules(store, NOW + timedelta(minutes=1), SETTINGS)
    assert _firing(store) == []


def test_reports_missing_for_a_registered_domain_with_a_record(store: Store) -> None:
    with store.write() as conn:
        add_domain(conn, "quiet.example")
        conn.execute(sa.text("UPDATE domains SET created_at = :t"), {"t": datetime(2026, 11, 1)})

    def records(_conn: Any, domains: Any) -> dict[str, bool]:
        return {d: d == "quiet.example" for d in domains}

    assert evaluate_report_rules(store, NOW, SETTINGS).events == []  # no record known, no reports
    (event,) = evaluate_report_rules(
        store, NOW, SETTINGS, ["quiet.example"], records=records
    ).events
    assert (event.alert["domain"], event.alert["rule"]) == ("quiet.example", "reports-missing")


def test_quarantine_growing_and_the_outbox_hook(store: Store) -> None:
    for n in range(10):
        source = SourceInfo("file", f"/junk/{n}", received_at=NOW - timedelta(hours=n + 1))
        assert ingest(store, f"not a report {n}".encode(), source).outcome == "quarantined"
    seen: list[int] = []

    def outbox(conn: Any, events: list[Any]) -> None:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM alert_events")).scalar() == len(events)
        seen.extend(e.id for e in events)

    (event,) = evaluate_report_rules(store, NOW, SETTINGS, on_events=outbox).events
    assert (event.alert["domain"], event.alert["rule"]) == (None, "quarantine-growing")
    assert seen == [event.id]


# --- two processes -------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from tlsrpt.analysis.alert_settings import parse_alert_settings
    from tlsrpt.check.evaluate import DomainReport
    from tlsrpt.check.findings import Finding, Severity
    from tlsrpt.store.engine import open_store
    from tlsrpt.watch.alerting import after_check, evaluate_report_rules

    store = open_store(sys.argv[1])
    now = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
    settings = parse_alert_settings(None)
    finding = Finding("mx-certificate-expired", Severity.ERROR, "expired", {"host": "mx1.example.com"})
    report = DomainReport("example.com", (finding,), {}, {}, [], True, 0.1)
    sys.stdin.readline()  # both start together
    events = 0
    for _ in range(5):
        events += len(evaluate_report_rules(store, now, settings).events)
        with store.write() as conn:
            events += len(after_check(conn, "example.com", report, [], now, settings))
    print(events)
    """
)


def test_two_processes_evaluating_at_once_open_each_alert_once(store: Store, db_url: str) -> None:
    put(store, report("example.com", days_back(1), "bad", 100, 100))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, db_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(2)
    ]
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert all(child.returncode == 0 for child in children)
    with store.read() as conn:
        firing = list_alerts(conn, AlertFilter(include_resolved=True))
        events = events_since(conn)
    rules = sorted(a["rule"] for a in firing)
    assert rules == [
        "mx-certificate-expired",
        "report-failure-rate",
        "report-new-failing-mx",
        "report-new-result-type",
    ]
    assert len(events) == 4 == sum(int(out) for out in outputs)


@dataclass(frozen=True)
class Outcome:
    """The watcher's CheckOutcome, as far as the hook reads it."""

    domain: str
    checked_at: datetime
    snapshot: dict[str, Any] | None = None
    changes: tuple[Change, ...] = ()
    report: DomainReport | None = None


def test_check_hook_for_the_watcher(store: Store) -> None:
    from tlsrpt.watch.alerting import check_hook

    seen: list[str] = []
    hook = check_hook(SETTINGS, lambda _conn, events: seen.extend(e.key for e in events))
    with store.write() as conn:
        hook(conn, Outcome("example.com", NOW))  # the check could not be made
        hook(conn, Outcome("example.com", NOW, report=check_report([FETCH_FAILED])))
    assert _firing(store) == [("sts-policy-fetch-failed", "mta-sts.example.com")]
    assert len(seen) == 1 and seen[0].startswith("alert-")
