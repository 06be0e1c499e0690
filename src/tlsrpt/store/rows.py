"""The rows the ingest transaction writes, one named type per table.

Each type's fields are that table's columns: the writer's column lists are
derived from them (`tlsrpt.store.writer`), ingest builds them by name
(`tlsrpt.ingest.rows`, `tlsrpt.ingest.pipeline`) and the stored report is
read back through them (`tlsrpt.ingest.rows.report_from_rows`).
tests/store/test_store_rows.py checks each type against its table in
`tlsrpt.store.schema`: a column added there without its field here fails.

The types are NamedTuples, so the writer hands them to the driver as they
are (executemany, COPY, flattened multi-row VALUES), with no conversion.
Dates and times are text when written (`writer.db_date`, `writer.db_time`)
and the database's date and datetime when read back: those fields are
typed `Any`.

Columns the writer supplies at write time are not fields of the row ingest
builds; each is listed beside its type (`REPORT_KEYS`, `POLICY_KEYS`,
`FAILURE_KEYS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar


class RawInputRow(NamedTuple):
    """A `raw_inputs` row: the bytes as received, their source and outcome."""

    id: int  # allocated under the write lock (`writer.next_ids`)
    sha256: str
    size: int
    codec: str
    data: bytes
    source_kind: str
    source_detail: str
    content_type: str | None
    source_meta: str | None  # JSON object
    received_at: Any
    # The outcome: the same fields, in the same order, as `RawOutcome`.
    outcome: str
    kind: str | None
    reason_code: str | None
    reason: str | None
    notes: str | None  # JSON list
    processed_at: Any


class RawOutcome(NamedTuple):
    """The outcome columns of a `raw_inputs` row, set again when a stored
    input is processed again (`writer.set_outcomes`)."""

    outcome: str
    kind: str | None
    reason_code: str | None
    reason: str | None
    notes: str | None  # JSON list
    processed_at: Any


class ReportRow(NamedTuple):
    """A `reports` row as ingest builds it, without `REPORT_KEYS`."""

    dedup_key: str
    content_sha256: str
    organization: str
    contact_info: str | None
    report_id: str
    start_at: Any
    end_at: Any
    day: Any
    submitter: str | None
    header_domain: str | None
    deviations: str  # JSON list
    successful_sessions: int
    failed_sessions: int


# Given when the report is written: its key (allocated under the write
# lock), the raw input it was read from, and the time of the transaction.
REPORT_KEYS = ("id", "raw_id", "received_at")


class ReportOrigin(NamedTuple):
    """`REPORT_KEYS` but the id: where and when a new report was stored."""

    raw_id: int
    received_at: Any


class PolicyRow(NamedTuple):
    """A `policy_results` row as ingest builds it, without `POLICY_KEYS`."""

    ordinal: int
    policy_type: str
    policy_domain: str | None  # as written in the report
    domain: str  # attributed ("" when unknown)
    attribution: str  # how (`tlsrpt.report.attribution.Attribution`)
    day: Any
    policy_strings: str  # JSON list
    mx_hosts: str  # JSON list
    successful_sessions: int
    failed_sessions: int


POLICY_KEYS = ("report_pk",)  # the report's key, known once it is written


class FailureDetailRow(NamedTuple):
    """A `failure_details` row as ingest builds it, without `FAILURE_KEYS`."""

    policy_ordinal: int
    ordinal: int
    domain: str
    day: Any
    result_type: str
    failed_session_count: int
    sending_mta_ip: str | None
    receiving_mx_hostname: str | None
    receiving_mx_helo: str | None
    receiving_ip: str | None
    additional_information: str | None
    failure_reason_code: str | None


FAILURE_KEYS = ("report_pk",)  # the report's key, known once it is written


class DuplicateRow(NamedTuple):
    """A `report_duplicates` row: a later arrival of a stored report."""

    raw_id: int
    report_pk: int
    conflict: bool
    content_sha256: str


class RollupKey(NamedTuple):
    """The key of a `daily_rollups` row (`tlsrpt.store.schema` says what
    `ALL` and `EMPTY` in it mean)."""

    domain: str
    day: Any
    organization: str
    policy_type: str
    result_type: str


class RollupCounts(NamedTuple):
    """The counts of a `daily_rollups` row, added to on every write."""

    reports: int
    successful_sessions: int
    failed_sessions: int


Row = TypeVar("Row", bound=tuple[Any, ...])


def row_from(row_type: type[Row], mapping: Mapping[str, Any]) -> Row:
    """A row type's fields read by name from a stored row (a mapping with
    at least those columns)."""
    return row_type(*(mapping[name] for name in row_type._fields))  # type: ignore[attr-defined]
