"""Where a domain is in its rollout (`rollout_status`): the same decisions
`tlsrpt mta-sts` makes, put together for the dashboard. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from tlsrpt.analysis.evidence import LastFailure
from tlsrpt.analysis.period import RollupRow
from tlsrpt.analysis.readiness import Readiness, domain_verdict
from tlsrpt.export import json_bytes
from tlsrpt.mtasts import (
    Change,
    PolicyVersion,
    Publish,
    new_version,
    next_step,
    plan_promotion,
    rollout_status,
)

D = "example.com"
T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
URL = Publish("https://tlsrpt.example.net")


def _history(*steps: tuple[str, int, timedelta]) -> list[PolicyVersion]:
    out: list[PolicyVersion] = []
    for mode, max_age, after in steps:
        change = Change(mode, ("mx1.example.com",), max_age)  # type: ignore[arg-type]
        out.append(new_version(D, out, change, now=T0 + after, created_by="t"))
    return out


def _readiness(now: datetime, days: int, failed: int = 0) -> Readiness:
    today = now.date()
    rows = []
    for n in range(days):
        day = today - timedelta(days=n)
        bad = failed if n == 0 else 0
        rows.append(RollupRow(D, day, "Google Inc.", "sts", "", 1, 1000, bad))
        if bad:
            rows.append(RollupRow(D, day, "Google Inc.", "sts", "certificate-expired", 0, 0, bad))
    last = LastFailure(today, ("certificate-expired",), ("mx2.example.com",)) if failed else None
    return domain_verdict(D, rows, last, None, None, today)


def test_not_hosted_says_init() -> None:
    status = rollout_status(D, [], _readiness(T0, 30), T0, URL)
    assert status.stage == "not-hosted"
    assert status.next.command == f"tlsrpt mta-sts init {D}"
    assert status.promotion is None and status.rollback_command is None
    assert status.records == ()
    assert [s.state for s in status.steps] == ["later"] * 4


def test_testing_and_ready_may_be_promoted() -> None:
    history = _history(("testing", 86400, timedelta(0)))
    now = T0 + timedelta(days=31)
    ready = _readiness(now, 30)
    status = rollout_status(D, history, ready, now, URL)
    assert status.stage == "testing"
    assert [s.state for s in status.steps] == ["current", "next", "later", "later"]
    assert status.promotion == plan_promotion(history, ready, now)
    assert status.promotion is not None and status.promotion.allowed
    assert status.next == next_step(history, now)
    assert [r.name for r in status.records] == [
        f"_mta-sts.{D}",
        f"_smtp._tls.{D}",
        f"mta-sts.{D}",
    ]
    assert status.records[0].value == f"v=STSv1; id={history[-1].id}"
    assert status.rollback_command == f"tlsrpt mta-sts rollback {D}"
    assert status.remove_after is None


def test_testing_with_failures_is_refused_with_reasons() -> None:
    history = _history(("testing", 86400, timedelta(0)))
    now = T0 + timedelta(days=31)
    status = rollout_status(D, history, _readiness(now, 30, failed=50), now, URL)
    assert status.promotion is not None and not status.promotion.allowed
    checks = [b.check for b in status.promotion.blockers]
    assert checks[0] == "verdict"
    assert len(checks) > 1


def test_enforce_step_on_hold() -> None:
    history = _history(("testing", 86400, timedelta(0)), ("enforce", 604800, timedelta(days=1)))
    now = T0 + timedelta(days=3)
    status = rollout_status(D, history, _readiness(now, 30), now, URL)
    assert status.stage == "enforce"
    assert [s.state for s in status.steps] == ["done", "current", "next", "later"]
    assert status.promotion is not None and not status.promotion.allowed
    assert [b.check for b in status.promotion.blockers] == ["hold"]
    assert status.next.not_before == history[-1].created_at + timedelta(days=14)


def test_rolled_back_says_when_the_records_may_go() -> None:
    history = _history(
        ("testing", 86400, timedelta(0)),
        ("enforce", 604800, timedelta(days=1)),
        ("none", 604800, timedelta(days=2)),
    )
    now = T0 + timedelta(days=3)
    status = rollout_status(D, history, _readiness(now, 30), now, URL)
    assert status.stage == "rolled-back"
    assert status.rollback_command is None
    assert status.remove_after == history[-1].created_at + timedelta(seconds=604800)
    assert status.next.command == f"tlsrpt mta-sts set {D} --mode testing"
    assert status.promotion is not None and not status.promotion.allowed


def test_as_dict_is_json_and_without_public_url_notes_say_how() -> None:
    history = _history(("testing", 86400, timedelta(0)))
    status = rollout_status(D, history, _readiness(T0, 30), T0, Publish())
    body = orjson.loads(json_bytes(status.as_dict()))
    assert body["stage"] == "testing"
    assert [r["type"] for r in body["records"]] == ["TXT"]  # no public_url: only the id
    assert "public_url" in body["notes"][0]
    assert body["promotion"]["allowed"] is True  # testing holds no days
