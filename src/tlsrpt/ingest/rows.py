"""Parsed report -> database rows and roll-up increments. Pure functions.

Decisions taken here (and tested in tests/ingest):
- De-duplication key (RFC 8460 §5.3; docs/conformance.md#de-duplication): the organization
  (organization-name, case-folded, whitespace collapsed; the contact-info domain when empty),
  the report-id and the start of the date range, hashed to a fixed width
  behind the start time (YYYYMMDDhhmmss-hash).
- Content identity: the SHA-256 of the normalized report, so the same report
  pretty-printed, gzipped or mailed is the same content.
- Attribution day: the UTC day holding the midpoint of the date range, which
  is the day meant whether a sender writes 23:59:59Z, the next 00:00:00Z or
  a local offset (RFC 8460 §4.1; docs/conformance.md#date-range).
- Attribution domain: `tlsrpt.report.attribution` (docs/conformance.md#attribution):
  the report's policy-domain (the body is authoritative, RFC 8460 §5.6),
  except for a policy without one (Postfix/libtlsrpt on no-policy-found)
  and a DANE policy naming an MX host, which go to the recipient domain the
  delivery or the report names. Stored with how it was found
  (`policy_results.attribution`); every inference is a deviation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import msgspec
import orjson

from tlsrpt.report import (
    DateRange,
    Deviation,
    FailureDetail,
    ParsedReport,
    Policy,
    PolicyResult,
    Report,
    Summary,
)
from tlsrpt.report.attribution import NO_CONTEXT, Context, attribute
from tlsrpt.store.rows import FailureDetailRow, PolicyRow, ReportRow, RollupKey, row_from
from tlsrpt.store.schema import ALL, EMPTY
from tlsrpt.store.writer import db_date, db_time


@dataclass(slots=True)
class ReportRows:
    """The rows of one report (`tlsrpt.store.rows`) and its roll-up
    increments (`RollupCounts` per key)."""

    report: ReportRow
    policies: list[PolicyRow]
    failures: list[FailureDetailRow]
    rollups: dict[RollupKey, list[int]] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        return self.report.dedup_key

    @property
    def content_sha256(self) -> str:
        return self.report.content_sha256


def clean_text(text: str) -> str:
    """Text any database accepts: no NUL, no lone surrogates (header bytes
    and file names decoded with surrogateescape)."""
    if text.isascii() and "\x00" not in text:
        return text
    fixed = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return fixed.replace("\x00", "\ufffd")


def naive_utc(moment: datetime) -> datetime:
    """Columns hold UTC as naive timestamps on every database."""
    if moment.tzinfo is None:
        return moment
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None)


@lru_cache(maxsize=4096)
def _range_facts(start: datetime, end: datetime) -> tuple[Any, ...]:
    """(start, end as stored, attribution day, the day as stored, start for
    the key, as prefix and as text): reports of one batch share a handful of
    date ranges."""
    try:
        end_exclusive = DateRange(start, end).end_exclusive
    except OverflowError:  # 9999-12-31T23:59:59
        end_exclusive = start
    if end_exclusive <= start:
        day = start.astimezone(UTC).date()
    else:
        day = (start + (end_exclusive - start) / 2).astimezone(UTC).date()
    naive_start = naive_utc(start)
    key_start = (f"{naive_start.year:04d}{naive_start:%m%d%H%M%S}", naive_start.isoformat())
    return db_time(naive_start), db_time(naive_utc(end)), day, db_date(day), key_start


def _facts(report: Report) -> tuple[Any, ...]:
    dr = report.date_range
    return _range_facts(dr.start_datetime, dr.end_datetime)


def attribution_day(report: Report) -> date:
    day: date = _facts(report)[2]
    return day


@lru_cache(maxsize=4096)
def _collapse(name: str) -> str:
    return " ".join(name.split())


def organization_name(report: Report) -> str:
    name = report.organization_name
    # (A long name, a hostile one, is not cached: the cache stays small.)
    return _collapse(name) if len(name) <= 256 else " ".join(name.split())


def dedup_key(
    report: Report, organization: str | None = None, facts: tuple[Any, ...] | None = None
) -> str:
    org = (organization_name(report) if organization is None else organization).casefold()
    if not org and report.contact_info:
        org = report.contact_info.rpartition("@")[2].strip().casefold()
    prefix, start = (facts or _facts(report))[4]
    digest = hashlib.sha256(f"{org}\x00{report.report_id}\x00{start}".encode()).hexdigest()
    # Led by the start time: keys of one period sit together in the index.
    return f"{prefix}-{digest[:49]}"


def _scrub(value: Any) -> Any:
    """`value` with every string cleaned, Structs rebuilt as they are (no
    validation: the model holds what decoding would refuse, see model.py)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, msgspec.Struct):
        return type(value)(*(_scrub(getattr(value, f)) for f in value.__struct_fields__))
    return value


def _storable(report: Report, devs: list[Deviation]) -> tuple[Report, bytes]:
    """The report as it will be stored, and its canonical encoding."""
    encoded = msgspec.json.encode(report)
    if b"\\u0000" in encoded:  # PostgreSQL text cannot hold NUL
        report = _scrub(report)
        encoded = msgspec.json.encode(report)
        devs.append(Deviation("nul-character", "$", "NUL characters replaced by U+FFFD"))
    return report, encoded


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def deviations_json(devs: list[Deviation]) -> str:
    return msgspec.json.encode(devs).decode() if devs else "[]"


def build_rows(
    parsed: ParsedReport,
    *,
    context: Context = NO_CONTEXT,
    extra_deviations: list[Deviation] | None = None,
    submitter: str | None = None,
) -> ReportRows:
    """Rows for one report (without the keys the writer gives), plus its
    roll-up increments. The parser has bounded its counts (`Limits.max_sessions`):
    each increment of one report is below that bound."""
    devs = list(parsed.deviations)
    if extra_deviations:
        devs.extend(extra_deviations)
    report, encoded = _storable(parsed.report, devs)
    facts = _facts(report)
    start_at, end_at, _, day, _ = facts
    org = organization_name(report)
    policies: list[PolicyRow] = []
    failures: list[FailureDetailRow] = []
    rollups: dict[RollupKey, list[int]] = {}
    total_ok = total_failed = 0
    attributed = attribute(report, context)
    for i, (result, found) in enumerate(zip(report.policies, attributed, strict=True)):
        pol = result.policy
        ptype = pol.policy_type
        domain = clean_text(found.domain)
        if found.deviation is not None:
            devs.append(found.deviation)
        ok = result.summary.total_successful_session_count
        failed = result.summary.total_failure_session_count
        total_ok += ok
        total_failed += failed
        policies.append(
            PolicyRow(
                ordinal=i,
                policy_type=ptype,
                policy_domain=pol.policy_domain,
                domain=domain,
                attribution=found.attribution,
                day=day,
                policy_strings=_json(pol.policy_string),
                mx_hosts=_json(pol.mx_host),
                successful_sessions=ok,
                failed_sessions=failed,
            )
        )
        failures += _failure_rows(i, domain, day, result.failure_details)
        _add_rollups(rollups, RollupKey(domain, day, org, ptype or EMPTY, ALL), result)
    row = ReportRow(
        dedup_key=dedup_key(report, org, facts),
        content_sha256=hashlib.sha256(encoded).hexdigest(),
        organization=org,
        contact_info=report.contact_info,
        report_id=report.report_id,
        start_at=start_at,
        end_at=end_at,
        day=day,
        submitter=clean_text(submitter) if submitter else None,
        header_domain=clean_text(context.header) if context.header else None,
        deviations=deviations_json(devs),
        successful_sessions=total_ok,
        failed_sessions=total_failed,
    )
    return ReportRows(
        report=row,
        policies=policies,
        failures=failures,
        rollups=rollups,
    )


def _failure_rows(
    ordinal: int, domain: str, day: date, details: Sequence[FailureDetail]
) -> list[FailureDetailRow]:
    """The failure-detail rows of the policy at `ordinal`."""
    return [
        FailureDetailRow(
            policy_ordinal=ordinal,
            ordinal=j,
            domain=domain,
            day=day,
            result_type=d.result_type,
            failed_session_count=d.failed_session_count,
            sending_mta_ip=d.sending_mta_ip,
            receiving_mx_hostname=d.receiving_mx_hostname,
            receiving_mx_helo=d.receiving_mx_helo,
            receiving_ip=d.receiving_ip,
            additional_information=d.additional_information,
            failure_reason_code=d.failure_reason_code,
        )
        for j, d in enumerate(details)
    ]


def _add_rollups(
    rollups: dict[RollupKey, list[int]], typed: RollupKey, result: PolicyResult
) -> None:
    """Add one policy's sessions to the report's roll-up increments
    ([reports, successful, failed] per key): its totals under every policy
    type and under its own (`typed`, result type ALL), its failure details
    per result type."""
    ok = result.summary.total_successful_session_count
    failed = result.summary.total_failure_session_count
    for key in (typed._replace(policy_type=ALL), typed):
        counts = rollups.setdefault(key, [1, 0, 0])
        counts[1] += ok
        counts[2] += failed
    for d in result.failure_details:
        key = typed._replace(result_type=d.result_type or EMPTY)
        rollups.setdefault(key, [1, 0, 0])[2] += d.failed_session_count


def report_from_rows(
    report: Mapping[str, Any],
    policies: Sequence[Mapping[str, Any]],
    failures: Sequence[Mapping[str, Any]],
) -> Report:
    """The model back from stored rows (mappings of column names, as read),
    through the row types `build_rows` writes: its inverse (the
    organization name keeps its collapsed whitespace)."""
    r = row_from(ReportRow, report)
    details: dict[int, list[FailureDetail]] = {}
    for f in (row_from(FailureDetailRow, m) for m in failures):
        details.setdefault(f.policy_ordinal, []).append(
            FailureDetail(
                result_type=f.result_type,
                failed_session_count=f.failed_session_count,
                sending_mta_ip=f.sending_mta_ip,
                receiving_mx_hostname=f.receiving_mx_hostname,
                receiving_mx_helo=f.receiving_mx_helo,
                receiving_ip=f.receiving_ip,
                additional_information=f.additional_information,
                failure_reason_code=f.failure_reason_code,
            )
        )
    return Report(
        organization_name=r.organization,
        date_range=DateRange(r.start_at.replace(tzinfo=UTC), r.end_at.replace(tzinfo=UTC)),
        contact_info=r.contact_info,
        report_id=r.report_id,
        policies=[
            PolicyResult(
                policy=Policy(
                    policy_type=p.policy_type,
                    policy_string=orjson.loads(p.policy_strings),
                    policy_domain=p.policy_domain,
                    mx_host=orjson.loads(p.mx_hosts),
                ),
                summary=Summary(int(p.successful_sessions), int(p.failed_sessions)),
                failure_details=details.get(p.ordinal, []),
            )
            for p in sorted((row_from(PolicyRow, m) for m in policies), key=lambda p: p.ordinal)
        ],
    )
