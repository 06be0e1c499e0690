"""Which real implementations reject a record or policy, or read it differently.

`sender_compat(kind, data, *, txt_rrs=())` evaluates the table in
`compat_rules.py` (implementations and rules, each with the file where the
behaviour was read; docs/conformance.md#sender-compatibility) against one
`_smtp._tls` record, `_mta-sts` record or `mta-sts.txt` policy and returns:

- `verdicts`: one `SenderVerdict(implementation, verdict, reason)` per
  implementation that reads this kind of input, `verdict` being "accept",
  "reject" or "reads-differently". The RFC grammar's verdict is tlsrpt's
  strict parse. For the others, a rule's outcome applies when the rule
  triggers; a reject wins over a different reading, which wins over accept.
  An input that tlsrpt's tolerant reading refuses for a reason no rule
  covers is counted as rejected by every implementation.
- `problems`: `sts-policy-rejected-by-senders` (error) for each rule under
  which a sender rejects an `_mta-sts` record or a policy that another sender
  applies; `record-read-differently` (warning) for each rule under which an
  implementation reads the input differently, naming who reads what.
- `covered`: the parser codes those problems stand for, so a caller that
  shows both can drop the parser's warning for the same fault.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tlsrpt.records.compat_rules import (
    BY_KEY,
    IMPLEMENTATIONS,
    RFC,
    RULES,
    Implementation,
    Outcome,
    Rule,
    Verdict,
)
from tlsrpt.records.compat_triggers import KINDS, Facts, Hit, Kind, facts
from tlsrpt.records.problems import Problem
from tlsrpt.records.sts_policy import parse_sts_policy
from tlsrpt.records.sts_record import parse_sts_record, select_sts_record
from tlsrpt.records.tlsrpt_record import parse_tlsrpt_record, select_tlsrpt_record
from tlsrpt.severity import Severity

__all__ = [
    "IMPLEMENTATIONS",
    "KINDS",
    "RULES",
    "Compat",
    "Implementation",
    "Kind",
    "Outcome",
    "Rule",
    "SenderVerdict",
    "Verdict",
    "sender_compat",
]

_RANK: dict[Verdict, int] = {"reject": 0, "reads-differently": 1, "accept": 2}


@dataclass(frozen=True, slots=True)
class SenderVerdict:
    implementation: str  # display name
    verdict: Verdict
    reason: str

    def to_json(self) -> dict[str, str]:
        return {
            "implementation": self.implementation,
            "verdict": self.verdict,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Compat:
    kind: Kind
    verdicts: tuple[SenderVerdict, ...]
    problems: tuple[Problem, ...]
    rules: tuple[str, ...]  # ids of the rules that triggered
    covered: frozenset[str] = field(default_factory=frozenset)

    def rejected_by(self) -> list[str]:
        return [v.implementation for v in self.verdicts if v.verdict == "reject"]


def sender_compat(kind: Kind, data: str | bytes | None, *, txt_rrs: Sequence[str] = ()) -> Compat:
    """`data` is the policy (str or bytes), or the one TXT record that was
    selected (None when the name had no single candidate); `txt_rrs` are all
    TXT records at the name, for the rules about records beside it."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    found = facts(kind, data, txt_rrs)
    hits = [
        (rule, hit) for rule in RULES if rule.kind == kind for hit in [rule.trigger(found)] if hit
    ]
    uncovered = _uncovered_errors(found, hits)
    verdicts = [_rfc_verdict(kind, data, found)]
    overall: dict[str, Verdict] = {}
    for impl in IMPLEMENTATIONS:
        if impl.key != RFC and kind in impl.kinds:
            verdicts.append(_verdict(impl, hits, uncovered))
            overall[impl.key] = verdicts[-1].verdict
    problems, covered = _problems(kind, hits, overall) if not uncovered else ([], set())
    return Compat(
        kind, tuple(verdicts), tuple(problems), tuple(r.id for r, _ in hits), frozenset(covered)
    )


def _uncovered_errors(found: Facts, hits: list[tuple[Rule, Hit]]) -> list[Problem]:
    codes = {code for rule, _ in hits for code in rule.codes}
    return [p for p in found.tolerant_problems if p.severity == "error" and p.code not in codes]


def _rfc_verdict(kind: Kind, data: str | bytes | None, found: Facts) -> SenderVerdict:
    strict: Any
    if kind == "sts-policy":
        strict = parse_sts_policy(data or b"", strict=True)
    elif kind == "sts-record":
        rrs = found.txt_rrs
        strict = select_sts_record(rrs) if len(rrs) != 1 else parse_sts_record(rrs[0])
    else:
        rrs = found.txt_rrs
        strict = select_tlsrpt_record(rrs) if len(rrs) != 1 else parse_tlsrpt_record(rrs[0])
    name = BY_KEY[RFC].name
    errors = [p.message for p in strict.problems if p.severity == "error"]
    if errors:
        return SenderVerdict(name, "reject", "; ".join(errors[:3]))
    return SenderVerdict(name, "accept", "valid under the grammar")


def _verdict(
    impl: Implementation, hits: list[tuple[Rule, Hit]], uncovered: list[Problem]
) -> SenderVerdict:
    outcomes = [
        (rule, hit, rule.outcomes[impl.key]) for rule, hit in hits if impl.key in rule.outcomes
    ]
    if uncovered:
        reason = uncovered[0].message + " (invalid beyond the documented differences)"
        return SenderVerdict(impl.name, "reject", reason)
    if not outcomes:
        return SenderVerdict(impl.name, "accept", "no documented difference for this input")
    verdict = min((o.verdict for _, _, o in outcomes), key=_RANK.__getitem__)
    shown = sorted(outcomes, key=lambda item: _RANK[item[2].verdict])
    reason = "; ".join(f"{hit.detail}: {o.how}" for _, hit, o in shown)
    return SenderVerdict(impl.name, verdict, reason)


def _problems(
    kind: Kind, hits: list[tuple[Rule, Hit]], overall: dict[str, Verdict]
) -> tuple[list[Problem], set[str]]:
    """One problem per rule and effect; an implementation that rejects the
    input anyway (for another rule) is not named as applying it."""
    problems: list[Problem] = []
    covered: set[str] = set()
    for rule, hit in hits:
        outcomes = rule.outcomes
        rejecting = [k for k, o in outcomes.items() if o.verdict == "reject"]
        applying = [
            k for k, o in outcomes.items() if o.verdict != "reject" and overall[k] != "reject"
        ]
        senders_rejecting = [k for k in rejecting if BY_KEY[k].role == "sender"]
        senders_applying = [k for k in applying if BY_KEY[k].role == "sender"]
        if kind != "tlsrpt-record" and senders_rejecting and senders_applying:
            problems.append(
                Problem(
                    "sts-policy-rejected-by-senders",
                    Severity.ERROR,
                    f"{hit.detail}: rejected by {_names(senders_rejecting)}, whose senders then "
                    f"apply no MTA-STS; {_readings(rule, applying)}",
                    hit.position,
                )
            )
            covered.update(rule.codes)
        if any(outcomes[k].verdict == "reads-differently" for k in applying):
            problems.append(
                Problem(
                    "record-read-differently",
                    Severity.WARNING,
                    f"{hit.detail}: read differently: {_readings(rule, applying)} "
                    f"(RFC: {rule.rfc})",
                    hit.position,
                )
            )
            covered.update(rule.codes)
    return problems, covered


def _noun(kind: Kind) -> str:
    return "policy" if kind == "sts-policy" else "record"


def _names(keys: list[str]) -> str:
    return ", ".join(BY_KEY[k].name for k in keys)


def _readings(rule: Rule, keys: list[str]) -> str:
    return "; ".join(f"{BY_KEY[k].name} {rule.outcomes[k].how}" for k in keys)
