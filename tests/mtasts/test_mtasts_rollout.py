"""The max_age ramp, promotion and rollback decisions, the records to
publish, the policy host name, and where a domain is in its rollout
(`rollout_status`, for the dashboard): pure, with the clock given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tlsrpt.analysis.evidence import LastFailure
from tlsrpt.analysis.period import RollupRow
from tlsrpt.analysis.readiness import Readiness, domain_verdict
from tlsrpt.export import json_bytes
from tlsrpt.mtasts import (
    RAMP,
    Change,
    PolicyVersion,
    Publish,
    expected_records,
    new_version,
    next_step,
    plan_promotion,
    plan_rollback,
    policy_host_domain,
    public_url_error,
    publish_notes,
    rollout_status,
    step_index,
)
from tlsrpt.records import MAX_AGE_LIMIT, parse_sts_record, parse_tlsrpt_record

D = "example.com"
T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _history(*steps: tuple[str, int, timedelta]) -> list[PolicyVersion]:
    out: list[PolicyVersion] = []
    for mode, max_age, after in steps:
        change = Change(mode, ("mx1.example.com",), max_age)  # type: ignore[arg-type]
        out.append(new_version(D, out, change, now=T0 + after, created_by="t"))
    return out


def _readiness(now: datetime, days: int, failed: int = 0) -> Readiness:
    """The verdict as of `now`'s day over `days` days of sts reports by
    Google, with `failed` certificate-expired sessions on the last day."""
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


def test_the_ramp_is_data_from_testing_to_a_year() -> None:
    assert [(s.mode, s.max_age) for s in RAMP] == [
        ("testing", 86400),
        ("enforce", 604800),
        ("enforce", 2592000),
        ("enforce", MAX_AGE_LIMIT),
    ]
    assert step_index("testing", 31557600) == 0
    assert step_index("enforce", 3600) == 1  # shorter than the first step: at the first step
    assert step_index("enforce", 604800) == 1
    assert step_index("enforce", 2592000 + 5) == 2
    assert step_index("enforce", MAX_AGE_LIMIT) == 3
    assert step_index("none", 86400) is None


def test_promotion_from_testing_needs_a_ready_verdict() -> None:
    history = _history(("testing", 86400, timedelta(0)))
    now = T0 + timedelta(days=20)
    refused = plan_promotion(history, _readiness(now, days=20, failed=40), now)
    assert not refused.allowed and refused.change is None
    checks = {b.check for b in refused.blockers}
    assert {"verdict", "blocking-failures"} <= checks
    assert any("mx2.example.com" in b.text for b in refused.blockers)  # the reasons name the MX

    short = plan_promotion(history, _readiness(now, days=6), now)
    assert not short.allowed and "clean-since" in {b.check for b in short.blockers}

    ready = plan_promotion(history, _readiness(now, days=20), now)
    assert ready.allowed and not ready.forced and ready.blockers == ()
    assert ready.change == Change("enforce", ("mx1.example.com",), 604800, ready.change.note)
    assert ready.as_dict()["to"] == {"mode": "enforce", "max_age": 604800}


def test_force_overrides_and_says_what_it_overrode() -> None:
    history = _history(("testing", 86400, timedelta(0)))
    now = T0 + timedelta(days=3)
    forced = plan_promotion(history, _readiness(now, days=3, failed=5), now, force=True)
    assert forced.allowed and forced.forced and forced.change is not None
    assert forced.change.note.startswith("promote --force: ")
    assert (
        "enforce readiness: not-ready" in forced.change.note and "not clean" in forced.change.note
    )


def test_each_enforce_step_is_held_before_the_next() -> None:
    history = _history(("testing", 86400, timedelta(0)), ("enforce", 604800, timedelta(days=20)))
    # an mx change at the same step keeps the hold running from the step's start
    history.append(
        new_version(
            D,
            history,
            Change("enforce", ("mx9.example.com",), 604800),
            now=T0 + timedelta(days=25),
            created_by="t",
        )
    )
    early = T0 + timedelta(days=33)
    held = plan_promotion(history, _readiness(early, days=30), early)
    assert not held.allowed
    assert [b.check for b in held.blockers] == ["hold"]
    assert "2026-12-21 09:30" in held.blockers[0].text  # step start
    assert "2027-01-04 09:30" in held.blockers[0].text  # + 14 days
    step = next_step(history, early)
    assert step.not_before == T0 + timedelta(days=34) and step.max_age == 2592000

    later = T0 + timedelta(days=34)
    moved = plan_promotion(history, _readiness(later, days=30), later)
    assert moved.allowed and moved.change is not None and moved.change.max_age == 2592000
    assert moved.change.mx == ("mx9.example.com",)


def test_the_last_step_and_mode_none_cannot_be_promoted() -> None:
    top = _history(("enforce", MAX_AGE_LIMIT, timedelta(0)))
    done = plan_promotion(top, None, T0)
    assert done.last_step and not done.allowed and done.blockers == ()
    assert next_step(top, T0).command is None

    off = _history(("testing", 86400, timedelta(0)), ("none", 86400, timedelta(days=1)))
    refused = plan_promotion(off, _readiness(T0, 30), T0, force=True)  # not even forced
    assert not refused.allowed and [b.check for b in refused.blockers] == ["mode"]
    assert next_step(off, T0).command == "tlsrpt mta-sts set example.com --mode testing"


def test_rollback_keeps_the_longest_max_age_ever_published() -> None:
    history = _history(
        ("testing", 86400, timedelta(0)),
        ("enforce", 604800, timedelta(days=20)),
        ("enforce", MAX_AGE_LIMIT, timedelta(days=60)),
        ("enforce", 604800, timedelta(days=90)),  # stepped down again
    )
    now = T0 + timedelta(days=100)
    plan = plan_rollback(history, now)
    assert plan.change is not None
    assert (plan.change.mode, plan.change.max_age) == ("none", MAX_AGE_LIMIT)
    assert plan.remove_after == now + timedelta(seconds=MAX_AGE_LIMIT)
    assert plan.change.mx == ("mx1.example.com",)

    history.append(new_version(D, history, plan.change, now=now, created_by="t"))
    again = plan_rollback(history, now + timedelta(days=3))
    assert again.change is None  # already off: nothing new to publish
    assert again.remove_after == plan.remove_after


def test_expected_records_with_and_without_a_public_url() -> None:
    version = _history(("testing", 86400, timedelta(0)))[0]
    alone = expected_records(D, version, Publish())
    assert [r.as_dict() for r in alone] == [
        {"name": "_mta-sts.example.com", "type": "TXT", "value": f"v=STSv1; id={version.id}"}
    ]
    note = publish_notes(D, Publish())[0]
    assert "public_url" in note and "--public-url" in note
    assert "tlsrpt.example" not in note  # no host made up

    records = expected_records(
        D, version, Publish("https://tlsrpt.provider.example/", "/v1/reports")
    )
    by_name = {r.name: r for r in records}
    assert by_name["mta-sts.example.com"].as_dict() == {
        "name": "mta-sts.example.com",
        "type": "CNAME",
        "value": "tlsrpt.provider.example",
    }
    rua = by_name["_smtp._tls.example.com"].value
    parsed, problems = parse_tlsrpt_record(rua, domain=D)
    assert parsed is not None and parsed.rua == ("https://tlsrpt.provider.example/v1/reports",), (
        problems
    )
    assert parse_sts_record(by_name["_mta-sts.example.com"].value).value is not None
    assert (
        by_name["mta-sts.example.com"].zone_line()
        == "mta-sts.example.com. IN CNAME tlsrpt.provider.example."
    )

    on_ip = expected_records(D, version, Publish("https://[2001:db8::5]:8443", "/reports"))
    assert on_ip[1].value == "v=TLSRPTv1;rua=https://[2001:db8::5]:8443/reports"
    assert on_ip[2].as_dict() == {
        "name": "mta-sts.example.com",
        "type": "AAAA",
        "value": "2001:db8::5",
    }
    assert expected_records(D, version, Publish("https://192.0.2.8"))[2].type == "A"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://tlsrpt.example", "https://"),
        ("https://", "no host"),
        ("https://u:p@tlsrpt.example", "without user"),
        ("https://tlsrpt.example/?x=1", "without user"),
        ("https://tlsrpt.example/a,b", "','"),
        ("https://tlsrpt.example:99999", "not a URL"),
    ],
)
def test_public_url_must_be_usable_as_a_rua(url: str, reason: str) -> None:
    error = public_url_error(url)
    assert error is not None and reason in error


def test_policy_host_domain() -> None:
    assert policy_host_domain("mta-sts.example.com") == "example.com"
    assert policy_host_domain("MTA-STS.Example.COM.:8443") == "example.com"
    assert policy_host_domain("mta-sts.example.com:443") == "example.com"
    for other in [
        None,
        "",
        "example.com",
        "www.mta-sts.example.com",
        "mta-sts.com",
        "mta-sts..example.com",
        "[::1]:8080",
        "127.0.0.1:8080",
        "mta-sts.exa\x00mple.com",
        "mta-sts.bücher.example",
    ]:
        assert policy_host_domain(other) is None, other


# --- rollout_status: the dashboard's view of the same decisions ---------------

URL = Publish("https://tlsrpt.example.net")


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
