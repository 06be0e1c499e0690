"""Enforce-readiness verdict: can a domain's MTA-STS policy move from
`testing` to `enforce` (RFC 8461 §5) without losing mail? Pure.

Under `testing` a failed session is still delivered; under `enforce` a
sender refuses to deliver over a connection that fails the policy
(RFC 8461 §5.1), so every failure whose type `explain()` marks
`lost_under_enforce` is mail that enforce would bounce or delay.

`domain_verdict(...)` (one domain, from its roll-up rows) and `decide(...)`
(from evidence the store summed) give the verdict; it depends on the day
it is asked (`today`), never on a period a page shows:

- only sessions under an `sts` policy are evidence; DANE (`tlsa`) and
  `no-policy-found` sessions get their own lines beside it;
- the evidence is the clean stretch: from the day after the last blocking
  failure of all stored history, or the last policy or MX change the
  watcher saw, or the first sts report, whichever is latest, to today
  ("clean since D");
- it must last the longer of `min_days` and the policy's `max_age` (from
  the watcher's check, else from the policy senders reported), with at
  least `min_sessions` sessions, a large sender among the reporters, a
  recent report and a failure rate within `max_failure_rate`;
- with a recent check, the live state joins in (`tlsrpt.analysis.live`).

`not-ready`: evidence that enforce would lose mail (a blocking failure too
recent, the failure rate, an uncovered MX, an MX certificate failing or
expiring within the max_age, a failing policy host); `insufficient-data`:
the evidence is not there yet (`reasons.NOT_READY_CHECKS`); `ready`
otherwise. Every check yields a `Reason` with its value and threshold, and
the verdict carries the `enforce` policy to publish
(`tlsrpt.analysis.enforce_policy`). `Readiness.as_dict()` is its one JSON
shape, wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from tlsrpt.analysis.enforce_policy import EnforcePolicy, ReportedPolicy, enforce_policy
from tlsrpt.analysis.evidence import LastFailure, ReportEvidence, SideLine, from_rollups
from tlsrpt.analysis.live import LiveCheck, SetupChange, is_recent, live_reasons, policy_max_age
from tlsrpt.analysis.period import RollupRow
from tlsrpt.analysis.reasons import (
    DAY_SECONDS,
    LARGE_SENDERS,
    NOT_READY_CHECKS,
    ReadinessConfig,
    Reason,
    Verdict,
    large_senders_in,
    plural,
    verdict_of,
)

__all__ = [
    "LARGE_SENDERS",
    "LastFailure",
    "LiveCheck",
    "Readiness",
    "ReadinessConfig",
    "Reason",
    "ReportedPolicy",
    "SetupChange",
    "Verdict",
    "decide",
    "domain_verdict",
    "large_senders_in",
]


@dataclass(frozen=True, slots=True)
class Readiness:
    domain: str
    verdict: Verdict
    reasons: tuple[Reason, ...]
    large_senders: tuple[str, ...]  # labels of the recognised large senders that reported
    clean_since: date | None = None
    enforce_policy: EnforcePolicy | None = None

    @property
    def problems(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if not r.passed)

    @property
    def headline(self) -> Reason | None:
        """The reason to show beside the verdict: the first problem that
        makes it not ready, else "no sts sessions" (a DANE-only domain),
        else the first problem; None when ready."""
        blocking = [r for r in self.problems if r.check in NOT_READY_CHECKS]
        no_sts = [r for r in self.problems if r.check == "sessions" and r.value == 0]
        first = blocking or no_sts or list(self.problems)
        return first[0] if first else None

    def as_dict(self) -> dict[str, Any]:
        """`{"verdict", "reasons": [{"check", "passed", "text", "value",
        "threshold"}], "clean_since", "large_senders", "enforce_policy"}`."""
        return {
            "verdict": str(self.verdict),
            "reasons": [r.as_dict() for r in self.reasons],
            "clean_since": self.clean_since.isoformat() if self.clean_since else None,
            "large_senders": list(self.large_senders),
            "enforce_policy": self.enforce_policy.as_dict() if self.enforce_policy else None,
        }


# --- the verdict over all stored history -----------------------------------


def _max_age(check: LiveCheck | None, reported: ReportedPolicy | None) -> tuple[int | None, str]:
    """The policy's max_age and where it is from."""
    if check is not None:
        found = policy_max_age(check.snapshot)
        if found is not None:
            return found, "the checked policy"
    if reported is not None and reported.max_age is not None:
        return reported.max_age, f"the policy senders reported on {reported.day}"
    return None, ""


def required_days(max_age: int | None, config: ReadinessConfig) -> int:
    if max_age is None:
        return config.min_days
    return max(config.min_days, -(-max_age // DAY_SECONDS))


def _need(required: int, max_age: int | None, source: str, config: ReadinessConfig) -> str:
    if max_age is None:
        return (
            f"{plural(required, 'day')} needed (the policy's max_age is not known: no check "
            "and no report of the policy)"
        )
    return (
        f"{plural(required, 'day')} needed (the longer of {config.min_days} days and the "
        f"max_age of {source}, {max_age:,} s)"
    )


def _reporters(evidence: ReportEvidence) -> str:
    names = [r.organization for r in evidence.sts.reporters]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"reporters {shown}" if names else "no reporter"


def _clean_since(evidence: ReportEvidence, today: date, required: int, need: str) -> Reason:
    since = evidence.clean_since
    if since is None:
        text = "no report of sessions under an MTA-STS (sts) policy: nothing is clean yet"
        return Reason("clean-since", False, f"{text}; {need}", 0, required)
    if since > today:
        text = f"a failure that enforce would have turned into lost mail on {today}"
        return Reason("clean-since", False, f"not clean: {text}; {need}", 0, required)
    days = (today - since).days
    sts = evidence.sts
    counted = (
        ""
        if sts.window is None or sts.window.start == since
        else (f" in the last {plural(sts.window.days, 'day')}")
    )
    text = (
        f"clean since {since} ({plural(days, 'day')}, {plural(sts.sessions, 'session')}"
        f"{counted}, {plural(sts.days_with_reports, 'day')} with reports, {_reporters(evidence)})"
        f"; {need}"
    )
    if days < required:
        text += f": {plural(required - days, 'day')} to go"
    return Reason("clean-since", days >= required, text, days, required)


def _blocking(failure: LastFailure | None, today: date, required: int) -> Reason:
    if failure is None:
        return Reason(
            "blocking-failures",
            True,
            "no failure that enforce would have turned into lost mail in the stored reports",
            None,
            required,
        )
    clean = max((today - failure.day).days - 1, 0)
    where = f" (MX: {', '.join(failure.mx_hosts)})" if failure.mx_hosts else ""
    text = (
        f"last failure that enforce would have turned into lost mail on {failure.day}: "
        f"{', '.join(failure.result_types) or 'a blocking type'}{where}; "
        f"{plural(clean, 'clean day')} since, {required} needed"
    )
    return Reason("blocking-failures", clean >= required, text, failure.day.isoformat(), required)


def _change(change: SetupChange | None, watched: bool, today: date, required: int) -> Reason:
    if change is None:
        text = (
            "no policy or MX change in the watcher's history"
            if watched
            else "no policy or MX change known (the watcher has no history of the domain)"
        )
        return Reason("policy-change", True, text, None, required)
    days = (today - change.day).days
    text = (
        f"last policy or MX change on {change.day} ({change.summary}); "
        f"{plural(days, 'day')} since, {required} needed"
    )
    return Reason("policy-change", days >= required, text, change.day.isoformat(), required)


def _ago(days: int) -> str:
    return "today" if days == 0 else f"{plural(days, 'day')} ago"


def _evidence_reasons(
    evidence: ReportEvidence, today: date, config: ReadinessConfig
) -> list[Reason]:
    sts = evidence.sts
    start = evidence.clean_since
    since = f" since {start}" if start and start <= today else ""
    if sts.sessions == 0 and (evidence.dane.sessions or evidence.no_policy.sessions):
        text = (
            f"no sessions under an MTA-STS (sts) policy{since}: DANE (tlsa) and no-policy "
            "sessions say nothing about MTA-STS"
        )
    else:
        text = f"{plural(sts.sessions, 'session')} under an sts policy{since}"
    reasons = [
        Reason(
            "sessions",
            sts.sessions >= config.min_sessions,
            f"{text} (minimum {config.min_sessions})",
            sts.sessions,
            config.min_sessions,
        )
    ]
    seen = large_senders_in([r.organization for r in sts.reporters], config)
    reasons.append(
        Reason(
            "large-senders",
            len(seen) >= config.min_large_senders,
            (
                f"large senders reporting sts sessions{since}: {', '.join(seen)}"
                if seen
                else f"no large sender (e.g. Google, Microsoft) reported sts sessions{since}"
            )
            + f" (minimum {config.min_large_senders})",
            list(seen),
            config.min_large_senders,
        )
    )
    last = sts.last_day
    if last is not None:
        gap = (today - last).days
        reasons.append(
            Reason(
                "recent-reports",
                gap <= config.max_report_gap_days,
                f"latest sts report for {last} ({_ago(gap)}, at most {config.max_report_gap_days})",
                last.isoformat(),
                config.max_report_gap_days,
            )
        )
    rate = sts.failure_rate
    reasons.append(
        Reason(
            "failure-rate",
            rate is None or rate <= config.max_failure_rate,
            "no sts sessions to compute a failure rate"
            if rate is None
            else f"sts failure rate{since} {rate:.2%} (threshold {config.max_failure_rate:.2%})",
            rate,
            config.max_failure_rate,
        )
    )
    return reasons


def _side(line: SideLine, check: str, label: str) -> Reason | None:
    if not line.sessions and not line.failures_by_result_type:
        return None
    text = (
        f"{label}, beside MTA-STS and not evidence for it: {plural(line.sessions, 'session')} "
        f"in the last {plural(line.days, 'day')}, {line.failed_sessions:,} failed"
    )
    if line.failures_by_result_type:
        text += " (" + ", ".join(f"{t} {n:,}" for t, n in line.failures_by_result_type) + ")"
        if check == "dane":
            text += "; DANE failures do not depend on the MTA-STS mode: fix them anyway"
    return Reason(check, True, text, line.sessions, None)


def decide(
    domain: str,
    evidence: ReportEvidence,
    today: date,
    last_change: SetupChange | None = None,
    check: LiveCheck | None = None,
    reported: ReportedPolicy | None = None,
    config: ReadinessConfig | None = None,
) -> Readiness:
    """The verdict from report evidence, the last policy or MX change, the
    latest check and the latest policy senders reported."""
    config = config or ReadinessConfig()
    recent = check if is_recent(check, today, config) else None
    max_age, source = _max_age(recent, reported)
    required = required_days(max_age, config)
    need = _need(required, max_age, source, config)
    reasons = [
        _clean_since(evidence, today, required, need),
        _blocking(evidence.last_failure, today, required),
        _change(last_change, check is not None, today, required),
        *_evidence_reasons(evidence, today, config),
        *live_reasons(check, today, max_age or config.enforce_max_age, config),
    ]
    for line, name, label in (
        (evidence.dane, "dane", "DANE (tlsa)"),
        (evidence.no_policy, "no-policy", "no policy found (no-policy-found)"),
    ):
        side = _side(line, name, label)
        if side is not None:
            reasons.append(side)
    since = evidence.clean_since if evidence.clean_since and evidence.clean_since <= today else None
    seen = large_senders_in([r.organization for r in evidence.sts.reporters], config)
    policy = enforce_policy(domain, today, recent, reported, config.enforce_max_age)
    return Readiness(domain, verdict_of(reasons), tuple(reasons), seen, since, policy)


def domain_verdict(
    domain: str,
    rollups: Iterable[RollupRow],
    last_blocking_failure: LastFailure | date | None,
    last_change: SetupChange | date | None,
    check: LiveCheck | None,
    today: date,
    config: ReadinessConfig | None = None,
    reported: ReportedPolicy | None = None,
) -> Readiness:
    """The verdict of one domain as of `today`.

    rollups: the domain's `daily_rollups` rows (other domains' and later
    days' rows are ignored); the policy-type levels are read: `sts` as
    evidence, `tlsa` and `no-policy-found` beside it. Give at least the last
    `evidence_days` and `side_days` days.
    last_blocking_failure: the latest day with a blocking sts failure over
    all stored history (a later one in `rollups` counts as well).
    last_change: the latest policy or MX change (`live.last_change`).
    check: the latest snapshot of the watcher and when it was seen.
    reported: the latest sts policy senders reported (its max_age and mx
    stand in when there is no recent check).
    """
    config = config or ReadinessConfig()
    failure = (
        LastFailure(last_blocking_failure)
        if isinstance(last_blocking_failure, date)
        else last_blocking_failure
    )
    change = (
        SetupChange(last_change, "policy or MX changed")
        if isinstance(last_change, date)
        else last_change
    )
    evidence = from_rollups(
        (r for r in rollups if r.domain == domain),
        today,
        failure,
        change.day if change else None,
        side_days=config.side_days,
        cap_days=config.evidence_days,
    )
    return decide(domain, evidence, today, change, check, reported, config)
