"""What goes into the ingest pipeline and what comes out of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Outcome = Literal["accepted", "duplicate", "quarantined", "refused"]
# What a stored raw input's outcome can be ("refused" inputs are not stored).
OUTCOMES: tuple[Outcome, ...] = ("accepted", "duplicate", "quarantined")


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Where an input came from; stored with its raw bytes.

    kind: "file", "http", "smtp", "imap" (free text, at most 16 characters).
    detail: the file path (and message number in an mbox), the HTTP peer,
      the SMTP envelope, the IMAP folder and UID.
    content_type: the declared media type, if any (never trusted for
      parsing: content is recognised by its bytes).
    meta: anything else worth keeping, JSON-serializable (e.g. the DKIM
      verdict of a mailed report, RFC 8460 §3; docs/conformance.md#dkim-required).
    received_at: when it arrived (aware or naive UTC); now if None.
    """

    kind: str
    detail: str
    content_type: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    received_at: datetime | None = None


# The reason code of an input held unparsed (`RawInput.hold`): a mailed
# report without an acceptable DKIM signature (RFC 8460 §3). It stays held
# when quarantined inputs are retried, unless released (`UnsignedRelease`).
HELD = "held"
# The key of `SourceInfo.meta` that records who let an unsigned input in.
ACCEPTED_UNSIGNED = "accepted_unsigned"
# The key of `SourceInfo.meta` naming the domain of the receiver path an
# input was POSTed to (`/v1/reports/DOMAIN`): the recipient domain its
# sender meant (`tlsrpt.report.attribution`).
RECEIVER_DOMAIN = "receiver_domain"


@dataclass(frozen=True, slots=True)
class UnsignedRelease:
    """Someone's explicit decision to store a mailed report that has no
    acceptable DKIM signature (RFC 8460 §3): who (an OS user, or the setting
    of a receiver), when (UTC) and how (the command or setting). Recorded
    in the input's metadata under `accepted_unsigned`."""

    by: str
    at: datetime
    how: str

    def as_meta(self) -> dict[str, str]:
        stamp = self.at.astimezone(UTC) if self.at.tzinfo else self.at  # naive: UTC already
        return {"by": self.by, "at": f"{stamp:%Y-%m-%dT%H:%M:%S}Z", "how": self.how}


@dataclass(frozen=True, slots=True)
class QuarantineBudget:
    """How much one client may put into quarantine per UTC day
    (`tlsrpt.store.budget`): `client` is the key it is counted under."""

    client: str
    max_inputs: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class RawInput:
    """One input to ingest. `hold`, when set, quarantines the input with that
    reason without parsing it (e.g. a mailed report failing DKIM). With
    `budget`, an input that would be quarantined while its client is over
    the budget is refused instead: not stored."""

    data: bytes
    source: SourceInfo
    hold: str | None = None
    budget: QuarantineBudget | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The committed outcome of one input.

    accepted: at least one new report was stored (report_ids lists every
      report the input carried, new or already stored).
    duplicate: nothing new: the same bytes, or reports already stored
      (same organization, report-id and start, RFC 8460 §5.3; docs/conformance.md#de-duplication).
      `conflict` is True when a stored report has that id but different content.
    quarantined: no report could be stored; `reason` says why. The bytes
      are kept under `raw_id` (`tlsrpt quarantine show|retry|export`).
      Reason code `held`: a mailed report without an acceptable DKIM
      signature, kept unparsed.
    released_unsigned: this call let a held input through
      (`reprocess(..., release=...)`).
    refused: it would have been quarantined, but its client is over its
      quarantine budget (`RawInput.budget`); nothing is stored, raw_id is 0.
    """

    outcome: Outcome
    raw_id: int
    reason: str | None = None
    reason_code: str | None = None
    report_ids: tuple[int, ...] = ()
    conflict: bool = False
    warnings: tuple[str, ...] = ()
    released_unsigned: bool = False
