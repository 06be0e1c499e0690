"""Enforce-readiness verdict: can a domain's MTA-STS policy move from
`testing` to `enforce` (RFC 8461 §5) without losing mail? Pure.

Under `testing` a failed session is still delivered; under `enforce` a
sender refuses to deliver over a connection that fails the policy
(RFC 8461 §5.1), so every failure whose type `explain()` marks
`lost_under_enforce` is mail that enforce would bounce or delay.

Verdicts, checked in this order:
- `not-ready`: evidence of problems, i.e. failures that enforce would turn
  into lost mail (more than `max_blocking_failures` failed sessions), or a
  failure rate above `max_failure_rate`. Evidence wins over a short history.
- `insufficient-data`: fewer days with reports than `min_days`, fewer
  sessions than `min_sessions`, or fewer recognised large senders
  (Google, Microsoft, ...) reporting than `min_large_senders`.
- `ready`: none of the above.

Every check yields a `Reason` (passed or not), so a page can show why.
`Readiness.as_dict()` is its one JSON shape, wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tlsrpt.analysis.explain import explain
from tlsrpt.analysis.period import DomainPeriod, FailureRow


class Verdict(StrEnum):
    READY = "ready"
    NOT_READY = "not-ready"
    INSUFFICIENT_DATA = "insufficient-data"


# Large senders, recognised by a case-insensitive substring of the report's
# organization-name (e.g. Google sends "Google Inc.", spec-checklist §6 G6).
LARGE_SENDERS: tuple[tuple[str, str], ...] = (
    ("Google", "google"),
    ("Microsoft", "microsoft"),
    ("Yahoo", "yahoo"),
    ("Comcast", "comcast"),
    ("Mail.ru", "mail.ru"),
    ("Yandex", "yandex"),
)


@dataclass(frozen=True, slots=True)
class ReadinessConfig:
    """Thresholds of the verdict. Defaults: two weeks of reports, at least
    100 sessions, at least one large sender reporting, at most 1 % failed
    sessions overall and no failed session that enforce would lose."""

    min_days: int = 14  # UTC days in the period with at least one report
    min_sessions: int = 100
    min_large_senders: int = 1
    max_failure_rate: float = 0.01  # failed / all sessions
    max_blocking_failures: int = 0  # failed sessions of lost_under_enforce types
    large_senders: tuple[tuple[str, str], ...] = LARGE_SENDERS  # (label, name fragment)


@dataclass(frozen=True, slots=True)
class Reason:
    check: str  # days, sessions, large-senders, failure-rate, blocking-failures, dane-failures
    passed: bool
    text: str


@dataclass(frozen=True, slots=True)
class Readiness:
    domain: str
    verdict: Verdict
    reasons: tuple[Reason, ...]
    large_senders: tuple[str, ...]  # labels of the recognised large senders that reported

    @property
    def problems(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if not r.passed)

    def as_dict(self) -> dict[str, Any]:
        """`{"verdict", "reasons": [{"check", "passed", "text"}], "large_senders"}`."""
        return {
            "verdict": str(self.verdict),
            "reasons": [
                {"check": r.check, "passed": r.passed, "text": r.text} for r in self.reasons
            ],
            "large_senders": list(self.large_senders),
        }


def large_senders_in(organizations: list[str], config: ReadinessConfig) -> tuple[str, ...]:
    """Labels of the large senders among organization names, in config order."""
    names = [o.casefold() for o in organizations]
    return tuple(
        label for label, fragment in config.large_senders if any(fragment in n for n in names)
    )


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _top_mx(analysis: DomainPeriod, failures: list[FailureRow], result_type: str) -> str:
    counts: dict[str, int] = {}
    for f in failures:
        if (
            f.result_type == result_type
            and f.receiving_mx
            and f.domain == analysis.domain
            and f.day in analysis.period
        ):
            counts[f.receiving_mx] = counts.get(f.receiving_mx, 0) + f.failed_sessions
    if not counts:
        return ""
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return " (MX: " + ", ".join(host for host, _ in top) + ")"


def assess(
    analysis: DomainPeriod,
    config: ReadinessConfig | None = None,
    failures: list[FailureRow] | None = None,
) -> Readiness:
    """The verdict for one domain over `analysis.period`. `failures` (the
    domain's failure-detail rows of that period), when given, lets the reasons
    name the MX hosts behind each blocking failure type (other domains' and
    days' rows are ignored)."""
    config = config or ReadinessConfig()
    failures = failures or []
    reasons: list[Reason] = []

    days = analysis.days_with_data
    reasons.append(
        Reason(
            "days",
            days >= config.min_days,
            f"{_plural(days, 'day')} with reports out of {analysis.period.days}"
            f" (minimum {config.min_days})",
        )
    )
    reasons.append(
        Reason(
            "sessions",
            analysis.sessions >= config.min_sessions,
            f"{_plural(analysis.sessions, 'session')} reported (minimum {config.min_sessions})",
        )
    )
    seen = large_senders_in([r.organization for r in analysis.reporters], config)
    reasons.append(
        Reason(
            "large-senders",
            len(seen) >= config.min_large_senders,
            f"large senders reporting: {', '.join(seen)}"
            if seen
            else "no large sender (e.g. Google, Microsoft) has reported yet",
        )
    )

    rate = analysis.failure_rate
    reasons.append(
        Reason(
            "failure-rate",
            rate is None or rate <= config.max_failure_rate,
            "no sessions to compute a failure rate"
            if rate is None
            else f"failure rate {rate:.2%} (threshold {config.max_failure_rate:.2%})",
        )
    )

    blocking, dane = [], []
    for result_type, count in analysis.failures_by_result_type:
        (blocking if explain(result_type).lost_under_enforce else dane).append((result_type, count))
    blocked = sum(n for _, n in blocking)
    if blocking:
        detail = "; ".join(
            f"{_plural(n, 'failed session')} with {t}{_top_mx(analysis, failures, t)}"
            for t, n in blocking
        )
        text = f"failures that enforce would turn into lost mail: {detail}"
    else:
        text = "no failures that enforce would turn into lost mail"
    reasons.append(Reason("blocking-failures", blocked <= config.max_blocking_failures, text))
    if dane:
        detail = "; ".join(f"{_plural(n, 'failed session')} with {t}" for t, n in dane)
        # Informational: DANE failures do not depend on the MTA-STS mode.
        reasons.append(Reason("dane-failures", True, f"DANE failures to fix anyway: {detail}"))

    failed_checks = {r.check for r in reasons if not r.passed}
    if failed_checks & {"failure-rate", "blocking-failures"}:
        verdict = Verdict.NOT_READY
    elif failed_checks:
        verdict = Verdict.INSUFFICIENT_DATA
    else:
        verdict = Verdict.READY
    return Readiness(analysis.domain, verdict, tuple(reasons), seen)
