"""The RFC 8460 §4 report model, normalized.

These types are what every other part of tlsrpt sees: the parser fills them
in from whatever a sender sent (see `tlsrpt.report.parse`), the serializer
writes them back as RFC-conformant JSON. Field names follow the §4.4 JSON
template (RFC 8460 §4.4; docs/conformance.md#template-keys: the template keys, never the prose
ones).

Normalization rules (docs/conformance.md#parser-leniency):
- every date-time is timezone-aware UTC;
- `policy-string`, `mx-host` and `failure-details` are always lists;
- members whose value is unknown are `None`, never empty strings.

Decoding JSON straight into these types accepts only the clean part of that
normalized form (see the note above `PolicyType`; unknown members are
refused, so a prose key is never dropped silently): `tlsrpt.report.fast`
uses it for reports that are already in it. Build instances with their
constructors, which check nothing, not by decoding or `msgspec.convert`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from tlsrpt.severity import Severity

# RFC 8460 §4.4 counts are integers; I-JSON (RFC 7493 §2.2) bounds them.
MAX_IJSON_INT = 2**53 - 1
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_IJSON_INT)]
# Optional text is absent or non-empty; an empty string is a deviation that
# the lenient decoder turns into None.
Text = Annotated[str, msgspec.Meta(min_length=1)]

# RFC 8460 §4.4 policy-type values.
POLICY_TYPES: frozenset[str] = frozenset({"tlsa", "sts", "no-policy-found"})

# RFC 8460 §4.3 / IANA "STARTTLS Validation Result Types", in IANA order.
RESULT_TYPES: tuple[str, ...] = (
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "certificate-not-trusted",
    "sts-policy-invalid",
    "sts-webpki-invalid",
    "validation-failure",
    "sts-policy-fetch-error",
)
RESULT_TYPE_SET: frozenset[str] = frozenset(RESULT_TYPES)

# What the annotations below say differs for type checkers and for decoding.
# The model holds what a sender sent once it is normalized: unregistered
# types (flagged), unknown values as None. Decoding straight into it
# (`tlsrpt.report.fast`) admits less, so that only reports needing no further
# look come through and msgspec does the checking in C: registered type
# names only, no nulls where a member may be absent (a null is a deviation
# that the full path reports). (A pattern for the policy domain's normal form
# would cost more than the whole decode, measured: `fast` checks it.)
if TYPE_CHECKING:
    PolicyType = str
    ResultType = str
    OptText = str | None
    OptDomain = str | None
else:
    PolicyType = Literal["tlsa", "sts", "no-policy-found"]
    ResultType = Literal[RESULT_TYPES]
    OptText = Text  # with a default of None: absent is None, null refused
    OptDomain = str


class Absent(list):
    """The value of a list member that was not given: an empty list that
    remembers its absence (it compares equal to `[]` and encodes as `[]`).
    Decoding fills it in, which lets `tlsrpt.report.fast` tell an omitted
    member, a deviation, from an empty one without another look at the bytes."""

    __slots__ = ()


class DateRange(msgspec.Struct, rename="kebab", forbid_unknown_fields=True, gc=False):
    start_datetime: datetime
    end_datetime: datetime

    @property
    def end_exclusive(self) -> datetime:
        """RFC 8460 §4.1; docs/conformance.md#date-range: an end of hh:mm:59 means up to the next
        second."""
        end = self.end_datetime
        if end.second == 59 and end.microsecond == 0:
            return end + timedelta(seconds=1)
        return end


class Policy(msgspec.Struct, rename="kebab", forbid_unknown_fields=True, gc=False):
    policy_type: PolicyType
    policy_string: list[str] = msgspec.field(default_factory=Absent)
    policy_domain: OptDomain = None
    mx_host: list[str] = msgspec.field(default_factory=Absent)


class Summary(msgspec.Struct, rename="kebab", forbid_unknown_fields=True, gc=False):
    total_successful_session_count: Count
    total_failure_session_count: Count


class FailureDetail(msgspec.Struct, rename="kebab", forbid_unknown_fields=True, gc=False):
    result_type: ResultType
    failed_session_count: Count
    sending_mta_ip: OptText = None
    receiving_mx_hostname: OptText = None
    receiving_mx_helo: OptText = None
    receiving_ip: OptText = None
    additional_information: OptText = None
    failure_reason_code: OptText = None


class PolicyResult(msgspec.Struct, rename="kebab", forbid_unknown_fields=True, gc=False):
    policy: Policy
    summary: Summary
    failure_details: list[FailureDetail] = msgspec.field(default_factory=Absent)


class Report(msgspec.Struct, rename="kebab", forbid_unknown_fields=True, gc=False):
    organization_name: str
    date_range: DateRange
    contact_info: Text | None
    report_id: str
    policies: list[PolicyResult]

    @property
    def successful_sessions(self) -> int:
        return sum(p.summary.total_successful_session_count for p in self.policies)

    @property
    def failed_sessions(self) -> int:
        return sum(p.summary.total_failure_session_count for p in self.policies)

    @property
    def policy_domains(self) -> list[str]:
        """Distinct policy domains in order of appearance (missing ones left out)."""
        seen: dict[str, None] = {}
        for p in self.policies:
            if p.policy.policy_domain:
                seen.setdefault(p.policy.policy_domain, None)
        return list(seen)


class Deviation(msgspec.Struct, frozen=True, gc=False):
    """Something the parser accepted that the RFC does not allow (or flags).

    `violation` is True when RFC 8460 forbids it: strict mode rejects those.
    False marks things that are legal but worth knowing (an unregistered
    result type, say).
    """

    code: str
    path: str
    message: str
    violation: bool = True

    @property
    def severity(self) -> Severity:
        """WARNING for a violation the parser accepted (strict mode rejects
        it instead), INFO for what is legal but worth knowing."""
        return Severity.WARNING if self.violation else Severity.INFO

    def to_json(self) -> dict[str, Any]:
        """The common shape of coded results: code, severity, message, and
        where: `path`, a JSONPath into the report; and `violation`."""
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "path": self.path,
            "violation": self.violation,
        }
