"""The alert rules: stable codes, where their conditions come from, their
severity, their thresholds with defaults, and the fix. Pure data.

Three sources feed alerts (`tlsrpt.analysis.alerts` holds the conditions):

- `check`: every finding of the domain checker of severity warning or
  error is an alert under the finding's own code (`tlsrpt check`'s codes);
  two certificate rules add expiry levels that re-notify as they are
  crossed;
- `change`: what changed between two checks of a domain;
- `report`: the stored TLS-RPT reports (RFC 8460 §4) and the quarantine.

The README's "Alerts" table is generated from `RULES` by `rules_table()`,
and a test compares the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHECK, CHANGE, REPORT = "check", "change", "report"
SEVERITIES = ("error", "warning", "info")

# Parameter kinds: how a TOML value is read and shown.
INT, RATE, FACTOR, DURATION, DAYS_LIST = "int", "rate", "factor", "duration", "days"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str  # INT, RATE (0..1), FACTOR (>= 1), DURATION ("48h"), DAYS_LIST ([30, 14])
    default: Any
    minimum: int = 1  # for INT and DAYS_LIST entries

    def shown(self) -> str:
        if self.kind == DAYS_LIST:
            return "[" + ", ".join(str(d) for d in self.default) + "]"
        if self.kind == DURATION:
            return f'"{self.default}"'
        return str(self.default)


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    source: str
    severity: str  # as documented; conditions carry the actual one
    condition: str
    fix: str
    params: tuple[Param, ...] = ()

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


EXPIRY_DAYS = Param("days", DAYS_LIST, (30, 14, 7, 1))
HOLD = Param("hold", DURATION, "3d")
WINDOW_DAYS = Param("window_days", INT, 2)

_RULES = (
    Rule(
        "mx-certificate-expiring",
        CHECK,
        "the finding's (warning under MTA-STS or DANE)",
        "an MX certificate expires within the largest of `days`; crossing each lower "
        "threshold notifies again (the alert's level)",
        "renew the certificate of the MX host and check that renewal is automated",
        (EXPIRY_DAYS,),
    ),
    Rule(
        "sts-policy-host-certificate-expiring",
        CHECK,
        "warning",
        "the certificate of `mta-sts.<domain>` (from the check's snapshot) expires within "
        "the largest of `days`; crossing each lower threshold notifies again",
        "renew the certificate of mta-sts.<domain>: once it expires senders cannot fetch "
        "the policy (RFC 8461 §3.3)",
        (EXPIRY_DAYS,),
    ),
    Rule(
        "sts-record-id-stale",
        CHECK,
        "warning",
        "for a policy hosted here: the `_mta-sts` TXT record does not name the id of the "
        "current hosted version (or is missing), so senders keep the policy they cached "
        "(RFC 8461 §3.1)",
        "publish the record `tlsrpt mta-sts show <domain>` prints",
    ),
    Rule(
        "sts-policy-not-served",
        CHECK,
        "error when the served mode or mx differ, else warning",
        "for a policy hosted here: `mta-sts.<domain>` answers with another text than the "
        "current hosted version, byte for byte (RFC 8461 §3.3)",
        "point `mta-sts.<domain>` at this server and let the proxy pass the Host header and "
        "the body unchanged",
    ),
    Rule(
        "sts-policy-changed-without-id-change",
        CHANGE,
        "warning",
        "the policy changed but the `_mta-sts` id did not, so senders keep the policy they "
        "cached (RFC 8461 §3.1); holds until the id changes or the old max_age has passed",
        "publish a new id in the `_mta-sts` TXT record",
    ),
    Rule(
        "mx-set-changed",
        CHANGE,
        "error when an MX is outside an enforce policy, warning under testing, else info",
        "the MX hosts changed; says whether the policy covers the new set (RFC 8461 §4.1); "
        "holds while it does not, else for `hold`",
        "add the new MX hosts to the policy's `mx` lines and publish a new id",
        (HOLD,),
    ),
    Rule(
        "tlsrpt-record-changed",
        CHANGE,
        "warning",
        "the `_smtp._tls` record changed, so reports may go elsewhere (RFC 8460 §3); "
        "holds for `hold`",
        "check that `rua` still names the addresses this tlsrpt receives at",
        (HOLD,),
    ),
    Rule(
        "report-failure-rate",
        REPORT,
        "warning",
        "over the last `window_days` UTC days, at least `min_sessions` sessions and a "
        "failure rate of `threshold` or more, or of `baseline_factor` times the rate of "
        "the `baseline_days` before (and at least `min_rate`)",
        "read the failures by result type, MX and sending IP on the domain page",
        (
            Param("threshold", RATE, 0.05),
            Param("min_sessions", INT, 100),
            Param("baseline_factor", FACTOR, 3.0),
            Param("min_rate", RATE, 0.01),
            WINDOW_DAYS,
            Param("baseline_days", INT, 14),
        ),
    ),
    Rule(
        "report-new-result-type",
        REPORT,
        "warning",
        "failures of a result type (RFC 8460 §4.3) in the last `window_days` days that "
        "the domain never had before; holds while they continue",
        "the fix of that result type (shown with the alert)",
        (WINDOW_DAYS,),
    ),
    Rule(
        "report-new-failing-mx",
        REPORT,
        "warning",
        "failures at a receiving MX host in the last `window_days` days that never "
        "failed before; holds while they continue",
        "check the certificate, STARTTLS and policy coverage of that MX",
        (WINDOW_DAYS,),
    ),
    Rule(
        "reporter-silent",
        REPORT,
        "warning",
        "an organization that reported on at least `min_days` of `regular_days` days "
        "sent nothing covering the last `silence`",
        "check that the `_smtp._tls` record still names your rua and that mail to it "
        "arrives; ask the organization",
        (
            Param("silence", DURATION, "48h"),
            Param("regular_days", INT, 14),
            Param("min_days", INT, 12),
        ),
    ),
    Rule(
        "reports-missing",
        REPORT,
        "warning",
        "a domain with a TLS-RPT record (latest check) or with reports before has had "
        "none for `days` days",
        "check the `_smtp._tls` record and that its rua addresses reach tlsrpt",
        (Param("days", INT, 3),),
    ),
    Rule(
        "quarantine-growing",
        REPORT,
        "warning",
        "`threshold` or more inputs quarantined within `window` (mailed reports "
        "without a valid DKIM signature, inputs that hold no report); not of one domain",
        "`tlsrpt quarantine list` shows the reasons; retry or export them",
        (Param("window", DURATION, "24h"), Param("threshold", INT, 10)),
    ),
)

RULES: dict[str, Rule] = {rule.code: rule for rule in _RULES}

# Every finding of the checker that is not one of RULES becomes an alert of
# this description, under the finding's code.
FINDING_RULE = Rule(
    "(finding code)",
    CHECK,
    "the finding's (warning or error; info findings make no alert)",
    "any finding of `tlsrpt check` (see the checker's codes), for as long as checks find it",
    "the finding's fix",
)


def rule_source(code: str) -> str:
    """The source of a rule; finding codes come from checks."""
    rule = RULES.get(code)
    return rule.source if rule is not None else CHECK


def rules_table() -> str:
    """The README table of the rules (Markdown), one row per rule."""
    lines = [
        "| code | from | condition | severity | thresholds (default) | fix |",
        "|---|---|---|---|---|---|",
    ]
    for rule in (FINDING_RULE, *_RULES):
        params = ", ".join(f"`{p.name}` = {p.shown()}" for p in rule.params) or "—"
        code = rule.code if rule is FINDING_RULE else f"`{rule.code}`"
        lines.append(
            f"| {code} | {rule.source} | {rule.condition} | {rule.severity} | {params} "
            f"| {rule.fix} |"
        )
    return "\n".join(lines)
