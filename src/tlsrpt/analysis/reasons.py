"""The vocabulary of the enforce-readiness verdict: verdicts, thresholds and
reasons. Pure data; `tlsrpt.analysis.readiness` decides.

A reason carries what it measured (`value`) and what it was held against
(`threshold`) as data, beside the sentence for people, so a program need not
parse the text: numbers, ISO dates, lists of names, or None when nothing
applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

DAY_SECONDS = 86400


class Verdict(StrEnum):
    READY = "ready"
    NOT_READY = "not-ready"
    INSUFFICIENT_DATA = "insufficient-data"


# Large senders, recognised by a case-insensitive substring of the report's
# organization-name (e.g. Google sends "Google Inc.").
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
    """Thresholds of the verdict.

    `min_days` is the least clean time; the verdict asks for the longer of
    it and the testing policy's `max_age` (a sender caches a policy that
    long, RFC 8461 §3.3, so that much clean history shows that every cached
    copy worked). The DANE and no-policy lines look at the last `side_days`.
    A check of the watcher counts as live state for `max_check_age_days`.
    """

    min_days: int = 14
    min_sessions: int = 100
    min_large_senders: int = 1
    max_failure_rate: float = 0.01  # failed / all sts sessions since the clean start
    max_report_gap_days: int = 3  # the latest sts report at most this many days before today
    max_check_age_days: int = 2
    side_days: int = 30
    evidence_days: int = 400  # sessions are counted over at most this many latest days
    enforce_max_age: int = 604800  # max_age of the first enforce policy: a week
    large_senders: tuple[tuple[str, str], ...] = LARGE_SENDERS  # (label, name fragment)


Value = int | float | str | list[str] | None


@dataclass(frozen=True, slots=True)
class Reason:
    check: str
    passed: bool
    text: str
    value: Value = None
    threshold: Value = None

    def as_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, list) else self.value
        threshold = list(self.threshold) if isinstance(self.threshold, list) else self.threshold
        return {
            "check": self.check,
            "passed": self.passed,
            "text": self.text,
            "value": value,
            "threshold": threshold,
        }


# Checks whose failure is evidence that enforce would lose mail: not-ready.
# Any other failed check only means the evidence is not there yet.
NOT_READY_CHECKS = frozenset(
    {"blocking-failures", "failure-rate", "mx-coverage", "mx-certificates", "policy-host"}
)


def verdict_of(reasons: list[Reason]) -> Verdict:
    failed = {r.check for r in reasons if not r.passed}
    if failed & NOT_READY_CHECKS:
        return Verdict.NOT_READY
    return Verdict.INSUFFICIENT_DATA if failed else Verdict.READY


def large_senders_in(organizations: list[str], config: ReadinessConfig) -> tuple[str, ...]:
    """Labels of the large senders among organization names, in config order."""
    names = [o.casefold() for o in organizations]
    return tuple(
        label for label, fragment in config.large_senders if any(fragment in n for n in names)
    )


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def days_text(seconds: int) -> str:
    days, rest = divmod(seconds, DAY_SECONDS)
    return plural(days, "day") if not rest else f"{seconds:,} s"
