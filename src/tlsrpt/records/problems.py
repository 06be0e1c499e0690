"""Problems found in a record or policy, the result shapes, and the code registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from tlsrpt.severity import Severity

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding. `position` is a 0-based character offset into the text
    that was parsed (the concatenated TXT value or the decoded policy), or
    None when the problem is about the whole input (e.g. a missing field).
    `severity` is ERROR or WARNING, never INFO."""

    code: str
    severity: Severity
    message: str
    position: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The common shape of coded results: code, severity, message, and
        where: `position`."""
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "position": self.position,
        }


class Parsed(NamedTuple, Generic[T]):
    """`value` is None exactly when `problems` holds at least one error."""

    value: T | None
    problems: tuple[Problem, ...]

    @property
    def valid(self) -> bool:
        return self.value is not None


class Selected(NamedTuple, Generic[T]):
    """Outcome of picking the one record among a name's TXT RRs.

    `text` is the concatenated text of the single candidate (the text that
    positions refer to), or None when there was not exactly one candidate.
    """

    value: T | None
    problems: tuple[Problem, ...]
    text: str | None

    @property
    def valid(self) -> bool:
        return self.value is not None


# Every code any parser in this package emits, with what it means. The README
# lists the same table; tests check both directions.
CODES: dict[str, str] = {
    # _smtp._tls TXT record (RFC 8460 §3)
    "tlsrpt-record-missing": "no TXT record starts with `v=TLSRPTv1;`",
    "tlsrpt-record-multiple": "more than one TXT record starts with `v=TLSRPTv1;`",
    "tlsrpt-record-ignored": "a TXT record looks like TLSRPT but senders skip it",
    "tlsrpt-version-typo": "a TXT record starts with the common typo `v=TSLRPTv1`",
    "tlsrpt-legacy-label": "the record sits at the draft-era `_smtp-tlsrpt` name",
    "tlsrpt-version-invalid": "the record does not start with exactly `v=TLSRPTv1`",
    "tlsrpt-character-invalid": "a character outside printable US-ASCII, space and tab",
    "tlsrpt-field-empty": "an empty field between two `;`",
    "tlsrpt-field-invalid": "a field that is not `name=value` with a valid name",
    "tlsrpt-field-duplicate": "a field given twice; the first one is used",
    "tlsrpt-extension-value-invalid": "an extension value with forbidden characters",
    "tlsrpt-trailing-whitespace": "whitespace at the end without a final `;`",
    "tlsrpt-rua-missing": "no `rua=` field, or one with no URI",
    "tlsrpt-rua-uri-invalid": "a rua entry that is not an absolute RFC 3986 URI",
    "tlsrpt-rua-uri-unencoded": "a raw `!` inside a rua URI (must be `%21`)",
    "tlsrpt-rua-mailto-invalid": "a mailto: URI without an address `local@domain`",
    "tlsrpt-rua-no-usable-uri": "no rua URI uses mailto: or https:",
    "tlsrpt-rua-http": "an http: URI, which senders ignore",
    "tlsrpt-rua-scheme-unsupported": "a URI scheme other than mailto: and https:",
    "tlsrpt-rua-duplicate": "the same URI listed twice",
    "tlsrpt-rua-many": "more rua URIs than senders are likely to use",
    "tlsrpt-rua-external": "a mailto: address outside the policy domain",
    # _mta-sts TXT record (RFC 8461 §3.1)
    "sts-record-missing": "no TXT record starts with `v=STSv1;`",
    "sts-record-multiple": "more than one TXT record starts with `v=STSv1;`",
    "sts-record-ignored": "a TXT record looks like MTA-STS but senders skip it",
    "sts-record-version-invalid": "the record does not start with exactly `v=STSv1`",
    "sts-record-character-invalid": "a character outside printable US-ASCII, space and tab",
    "sts-record-field-empty": "an empty field between two `;`",
    "sts-record-field-invalid": "a field that is not `name=value` with a valid name",
    "sts-record-field-duplicate": "a field given twice; the first one is used",
    "sts-record-extension-value-invalid": "an extension value with forbidden characters",
    "sts-record-trailing-whitespace": "whitespace at the end without a final `;`",
    "sts-record-id-missing": "no `id=` field",
    "sts-record-id-invalid": "an id that is not 1-32 letters and digits",
    # mta-sts.txt policy (RFC 8461 §3.2)
    "sts-policy-too-large": "the policy is larger than 64 KiB",
    "sts-policy-encoding": "the policy is not UTF-8, or starts with a byte-order mark",
    "sts-policy-blank-line": "an empty line",
    "sts-policy-line-invalid": "a line that is not `key: value`",
    "sts-policy-key-invalid": "a key with characters not allowed in a key",
    "sts-policy-value-invalid": "an extension value with control characters or none at all",
    "sts-policy-unknown-key": "a key this version of MTA-STS does not define",
    "sts-policy-duplicate-key": "a key other than mx given twice; the first one is used",
    "sts-policy-version-missing": "no `version:` line",
    "sts-policy-version-invalid": "a version other than `STSv1`",
    "sts-policy-mode-missing": "no `mode:` line",
    "sts-policy-mode-invalid": "a mode other than enforce, testing and none",
    "sts-policy-mode-testing": "mode testing: failures are reported but mail still flows",
    "sts-policy-mode-none": "mode none: the policy is switched off",
    "sts-policy-max-age-missing": "no `max_age:` line",
    "sts-policy-max-age-invalid": "a max_age that is not 1 to 10 digits",
    "sts-policy-max-age-too-large": "a max_age above 31557600, which some senders reject",
    "sts-policy-max-age-clamped": "a max_age above 31557600, read as 31557600 (tolerant reading)",
    "sts-policy-max-age-short": "a max_age under one day",
    "sts-policy-mx-missing": "no `mx:` line although the mode is not none",
    "sts-policy-mx-invalid": "an mx that is not a host name or `*.` and a domain",
    "sts-policy-mx-trailing-dot": "an mx written with a trailing dot",
    "sts-policy-mx-ip-address": "an mx that is an IPv4 address",
    "sts-policy-mx-duplicate": "the same mx pattern listed twice",
    # What real implementations do with a record or policy (records/compat.py)
    "sts-policy-rejected-by-senders": "implementations that reject a policy or record others apply",
    "record-read-differently": "implementations that read the same record or policy differently",
}


class ProblemList:
    """Collects problems for one parse; `strict` decides whether the
    relaxations a lenient parse allows are errors or warnings, `tolerant`
    whether even those that a widely used implementation rejects are."""

    __slots__ = ("has_error", "items", "strict", "tolerant")

    def __init__(self, strict: bool = True, tolerant: bool = False) -> None:
        self.items: list[Problem] = []
        self.strict = strict
        self.tolerant = tolerant and not strict
        self.has_error = False

    def error(self, code: str, message: str, position: int | None = None) -> None:
        self.items.append(Problem(code, Severity.ERROR, message, position))
        self.has_error = True

    def warning(self, code: str, message: str, position: int | None = None) -> None:
        self.items.append(Problem(code, Severity.WARNING, message, position))

    def relaxable(self, code: str, message: str, position: int | None = None) -> None:
        """An RFC violation that lenient parsing tolerates."""
        if self.strict:
            self.error(code, message, position)
        else:
            self.warning(code, message, position)

    def sender_rejected(self, code: str, message: str, position: int | None = None) -> None:
        """An RFC violation that some senders tolerate and a widely used one
        rejects (docs/conformance.md#sender-compatibility): an error unless
        the parse is tolerant."""
        if self.tolerant:
            self.warning(code, message, position)
        else:
            self.error(code, message, position)

    def extend(self, problems: tuple[Problem, ...] | list[Problem]) -> None:
        for problem in problems:
            self.items.append(problem)
            self.has_error = self.has_error or problem.severity == "error"

    def parsed(self, value: T) -> Parsed[T]:
        """The result, problems in text order, whole-input ones last."""
        ordered = sorted(self.items, key=lambda p: (p.position is None, p.position or 0))
        return Parsed(None if self.has_error else value, tuple(ordered))
