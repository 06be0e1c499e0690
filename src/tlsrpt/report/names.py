"""The RFC 8460 §5.1 file name and the §5.3 Subject line, parsed leniently."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec

from tlsrpt.domains import normalize_domain

# RFC 8460 §5.1: sender "!" policy-domain "!" begin "!" end [ "!" unique-id ] "." ext
_FILENAME = re.compile(
    r"^(?P<sender>[^!]+)!(?P<domain>[^!]+)!(?P<begin>\d+)!(?P<end>\d+)"
    r"(?:!(?P<uid>[^!.]+))?\.(?P<ext>json(?:\.gz)?|gz)$",
    re.I,
)
# RFC 8460 §5.3 Subject ABNF, leniently: any case, any whitespace, the
# Report-ID with or without <...@...> (Microsoft sends a bare id).
_SUBJECT = re.compile(
    r"Report\s+Domain:\s*(?P<domain>\S+)\s+Submitter:\s*(?P<submitter>\S+)"
    r"(?:\s+Report-ID:\s*<?(?P<rid>[^<>\s]*)>?)?",
    re.I,
)


class ReportFilename(msgspec.Struct, frozen=True):
    sender: str
    policy_domain: str
    begin: datetime
    end: datetime
    unique_id: str | None
    extension: str


class ReportSubject(msgspec.Struct, frozen=True):
    policy_domain: str
    submitter: str
    report_id: str | None


def _timestamp(text: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def parse_filename(name: str) -> ReportFilename | None:
    """RFC 8460 §5.1; docs/conformance.md#file-names, #gzip-detection; None when the name does not
    follow the scheme."""
    match = _FILENAME.match(name.strip().rsplit("/", 1)[-1])
    if not match:
        return None
    begin, end = _timestamp(match["begin"]), _timestamp(match["end"])
    if begin is None or end is None:
        return None
    return ReportFilename(
        sender=match["sender"].lower(),
        policy_domain=match["domain"].lower(),
        begin=begin,
        end=end,
        unique_id=match["uid"],
        extension=match["ext"].lower(),
    )


def parse_subject(subject: str) -> ReportSubject | None:
    """RFC 8460 §5.3; docs/conformance.md#subject-line, leniently
    (docs/conformance.md#parser-leniency: never the only dedup key)."""
    match = _SUBJECT.search(" ".join(subject.split()))
    if not match:
        return None
    return ReportSubject(
        policy_domain=normalize_domain(match["domain"]),
        submitter=normalize_domain(match["submitter"]),
        report_id=match["rid"] or None,
    )
