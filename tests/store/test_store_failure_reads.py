"""The failure-explanation reads on SQLite and PostgreSQL: failure groups
with the policies senders named, the watcher's states of a period (keep-alive
repeats folded in) and the hosted versions, joined into explanations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from tlsrpt.analysis.period import Period
from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.mtasts import Change, new_version
from tlsrpt.store.engine import Store
from tlsrpt.store.failure_reads import explained_failures, failure_history, group_rows
from tlsrpt.store.hosted import publish
from tlsrpt.store.watch import SnapshotSummary, record_snapshot, states_between
from tlsrpt.watch.snapshot import canonical, digest

UTC = dt.UTC
DAY1, DAY2 = dt.date(2026, 12, 2), dt.date(2026, 12, 3)
PERIOD = Period(dt.date(2026, 11, 27), DAY2)
V1_LINES = ["version: STSv1", "mode: testing", "mx: mx1.example.com", "max_age: 86400"]


def at(day: dt.date, hour: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), UTC)


def _report(report_id: str, day: dt.date, lines: list[str], failures: list[Any]) -> bytes:
    return orjson.dumps(
        {
            "organization-name": "Sender",
            "date-range": {
                "start-datetime": f"{day}T00:00:00Z",
                "end-datetime": f"{day}T23:59:59Z",
            },
            "contact-info": "x@sender.example",
            "report-id": report_id,
            "policies": [
                {
                    "policy": {
                        "policy-type": "sts",
                        "policy-string": lines,
                        "policy-domain": "example.com",
                        "mx-host": ["mx1.example.com"],
                    },
                    "summary": {
                        "total-successful-session-count": 5,
                        "total-failure-session-count": sum(
                            f["failed-session-count"] for f in failures
                        ),
                    },
                    "failure-details": failures,
                }
            ],
        }
    )


def _failure(result_type: str, mx: str, count: int, code: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "result-type": result_type,
        "receiving-mx-hostname": mx,
        "failed-session-count": count,
    }
    if code:
        out["failure-reason-code"] = code
    return out


def _snapshot(mx: str, patterns: list[str], not_after: str) -> dict[str, Any]:
    probe = {
        "address": "192.0.2.1",
        "starttls": True,
        "tls_version": "TLSv1.3",
        "error": None,
        "certificate": {
            "subject": "CN=x",
            "sans": [mx],
            "issuer": "CN=ca",
            "not_after": not_after,
            "sha256": "0",
        },
    }
    return {
        "tlsrpt": {"records": [], "status": "nodata"},
        "sts": {"records": ["v=STSv1; id=a"], "status": "ok", "id": "a"},
        "policy": {
            "url": "https://mta-sts.example.com/.well-known/mta-sts.txt",
            "status": 200,
            "error": None,
            "text": None,
            "mode": "enforce",
            "mx": patterns,
            "max_age": 604800,
            "certificate": None,
        },
        "mx": [
            {
                "host": mx,
                "preference": 10,
                "addresses": ["192.0.2.1"],
                "tls": [probe],
                "tlsa": [],
                "tlsa_status": "nxdomain",
            }
        ],
        "findings": [],
    }


def _record(store: Store, snap: dict[str, Any], moment: dt.datetime) -> None:
    with store.write() as conn:
        record_snapshot(
            conn,
            "example.com",
            canonical(snap).decode(),
            digest(snap),
            SnapshotSummary(0, 0, None),
            moment,
            dt.timedelta(days=1),
        )


def _setup(store: Store) -> list[Any]:
    source = SourceInfo("file", "/reports/in.json")
    v1 = new_version(
        "example.com",
        [],
        Change("testing", ("mx1.example.com",), 86400),
        now=at(dt.date(2026, 11, 20)),
        created_by="t",
    )
    v2 = new_version(
        "example.com",
        [v1],
        Change("enforce", ("*.mx.example.com",), 604800),
        now=at(DAY1, 6),
        created_by="t",
    )
    with store.write() as conn:
        publish(conn, v1)
        publish(conn, v2)
    ingest(
        store,
        _report(
            "r1",
            DAY1,
            V1_LINES,
            [
                _failure("validation-failure", "mx1.example.com", 7, "not-covered"),
                _failure("validation-failure", "MX1.example.com", 3, "other"),
            ],
        ),
        source,
    )
    ingest(
        store,
        _report("r2", DAY2, V1_LINES, [_failure("certificate-expired", "mx1.mx.example.com", 4)]),
        source,
    )
    early = _snapshot("mx1.mx.example.com", ["*.mx.example.com"], "2027-01-01T00:00:00Z")
    expired = _snapshot("mx1.mx.example.com", ["*.mx.example.com"], "2026-12-02T12:00:00Z")
    _record(store, early, at(dt.date(2026, 11, 1)))  # long before the period
    _record(store, early, at(DAY1, 1))  # a keep-alive repeat (older than a day)
    _record(store, early, at(DAY1, 2))  # folded into that repeat
    _record(store, expired, at(DAY2, 1))
    return [v1, v2]


def test_group_rows_carry_the_policy_strings(store: Store) -> None:
    _setup(store)
    with store.read() as conn:
        rows = group_rows(conn, "example.com", PERIOD)
    assert sorted((r.day, r.result_type, r.mx, r.reason_code, r.sessions) for r in rows) == [
        (DAY1, "validation-failure", "MX1.example.com", "other", 3),
        (DAY1, "validation-failure", "mx1.example.com", "not-covered", 7),
        (DAY2, "certificate-expired", "mx1.mx.example.com", None, 4),
    ]
    assert {r.policy_strings for r in rows} == {tuple(V1_LINES)}
    assert {r.policy_type for r in rows} == {"sts"}


def test_states_between_folds_repeats_and_takes_the_state_at_the_start(store: Store) -> None:
    _setup(store)
    with store.read() as conn:
        found = states_between(conn, "example.com", at(DAY1, 3), at(DAY2 + dt.timedelta(days=1)))
        inside = states_between(conn, "example.com", at(DAY2), at(DAY2, 12))
        none = states_between(conn, "other.example", at(DAY1), at(DAY2))
    assert [(s.first_seen_at, s.last_seen_at, s.checks) for s in found] == [
        (at(dt.date(2026, 11, 1)), at(DAY1, 2), 3),
        (at(DAY2, 1), at(DAY2, 1), 1),
    ]
    assert [s.first_seen_at for s in inside] == [at(dt.date(2026, 11, 1)), at(DAY2, 1)]
    assert none == []


def test_failure_history_and_explanations(store: Store) -> None:
    v1, v2 = _setup(store)
    with store.read() as conn:
        history = failure_history(conn, "example.com", PERIOD)
        explained = explained_failures(conn, "example.com", PERIOD)
    assert [v.id for v in history.versions] == [v1.id, v2.id]
    assert len(history.states) == 2
    (g2, e2), (g1, e1) = explained
    assert (g2.day, g2.result_type, g2.sessions) == (DAY2, "certificate-expired", 4)
    assert e2.code == "certificate-expired"
    assert "had expired on 2026-12-02" in e2.text
    assert (g1.day, g1.sessions, g1.reason_codes) == (DAY1, 10, ("not-covered", "other"))
    assert e1.code == "mx-not-covered"
    assert [f.code for f in e1.facts][:2] == ["mx-not-covered", "policy-superseded"]
    assert f"the sender used policy id {v1.id}" in e1.text


def test_no_failures_no_history_read(store: Store) -> None:
    with store.read() as conn:
        assert explained_failures(conn, "example.com", PERIOD) == []
