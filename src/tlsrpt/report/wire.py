"""Decoding types: what senders put on the wire.

Two tiers, both decoded and type-checked by msgspec in C:

- `Fast*`: the RFC shape, with the model's own `DateRange`, `Summary` and
  `FailureDetail` for the bulk of the data. Absent members are `UNSET`, so
  the semantic pass can tell "missing" from "empty". Most real reports
  decode at this tier at about the cost of a plain JSON decode.
- `Loose*`: admits every type-level variant we accept (spec checklist §6.5,
  peers.md §8): a string or array `mx-host`, the prose keys `mx-host-pattern`
  and `additional-info-uri`, numbers as strings, `null` members, a bare
  policy object in place of the `policies` array. `tlsrpt.report.coerce`
  turns these into the `Fast*` shape, recording each quirk.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from tlsrpt.report.model import DateRange, FailureDetail, Summary

# ---- tier 1: the RFC shape ------------------------------------------------


class FastPolicy(msgspec.Struct, rename="kebab", gc=False):
    policy_type: str
    policy_string: list[str] | UnsetType = UNSET
    policy_domain: str | UnsetType | None = UNSET  # None: was null, already flagged
    mx_host: list[str] | UnsetType = UNSET


class FastPolicyResult(msgspec.Struct, rename="kebab", gc=False):
    policy: FastPolicy
    summary: Summary
    failure_details: list[FailureDetail] | UnsetType = UNSET


class FastReport(msgspec.Struct, rename="kebab", gc=False):
    organization_name: str
    date_range: DateRange
    report_id: str
    policies: list[FastPolicyResult]
    contact_info: str | UnsetType | None = UNSET  # None: was null, already flagged


fast_decoder = msgspec.json.Decoder(FastReport)


def needs_loose_tier(body: bytes) -> bool:
    """Member names and values the fast tier cannot represent (it would
    ignore unknown keys and reject null): found by C substring searches."""
    return b"null" in body or b'"mx-host-pattern"' in body or needs_loose_rows(body)


def needs_loose_rows(body: bytes) -> bool:
    """A row member the RFC-shaped rows would silently drop."""
    return b'"additional-info-uri"' in body


# ---- tier 2: everything we accept ----------------------------------------

LooseCount = int | float | str
OptStr = str | None | UnsetType
StrOrList = list[str] | str | None | UnsetType


class LooseDateRange(msgspec.Struct, rename="kebab", gc=False):
    start_datetime: str
    end_datetime: str


class LoosePolicy(msgspec.Struct, rename="kebab", gc=False):
    policy_type: str
    policy_string: StrOrList = UNSET
    policy_domain: OptStr = UNSET
    mx_host: StrOrList = UNSET
    mx_host_pattern: StrOrList = UNSET  # RFC 8460 §4.4 prose name (E2)


class LooseSummary(msgspec.Struct, rename="kebab", gc=False):
    total_successful_session_count: LooseCount | UnsetType = UNSET
    total_failure_session_count: LooseCount | UnsetType = UNSET


class LooseFailureDetail(msgspec.Struct, rename="kebab", gc=False):
    result_type: str
    failed_session_count: LooseCount
    sending_mta_ip: OptStr = UNSET
    receiving_mx_hostname: OptStr = UNSET
    receiving_mx_helo: OptStr = UNSET
    receiving_ip: OptStr = UNSET
    additional_information: OptStr = UNSET
    additional_info_uri: OptStr = UNSET  # RFC 8460 §4.4 prose name (E2)
    failure_reason_code: OptStr = UNSET


class LoosePolicyResult(msgspec.Struct, rename="kebab", gc=False):
    policy: LoosePolicy
    summary: LooseSummary
    failure_details: list[LooseFailureDetail] | UnsetType | None = UNSET


class LooseReport(msgspec.Struct, rename="kebab", gc=False):
    organization_name: str
    date_range: LooseDateRange
    report_id: str | int
    policies: list[LoosePolicyResult] | LoosePolicyResult
    contact_info: OptStr = UNSET


loose_decoder = msgspec.json.Decoder(LooseReport)


# ---- tier 2: loose report and policies, RFC-shaped failure rows -----------
# Most quirks sit above the rows (a null contact-info, a string mx-host,
# counts as strings in the summary); rows are the bulk of a big report, so
# they are decoded straight into the model when they allow it.


class LoosePolicyResultRfcRows(LoosePolicyResult):
    failure_details: list[FailureDetail] | UnsetType | None = UNSET


class LooseReportRfcRows(LooseReport):
    policies: list[LoosePolicyResultRfcRows] | LoosePolicyResultRfcRows


loose_rfc_rows_decoder = msgspec.json.Decoder(LooseReportRfcRows)


def nulls_above_rows(w: LooseReportRfcRows) -> int:
    """How many JSON nulls this tier saw outside the rows. Rows decode a null
    as an absent member; when the bytes hold more nulls than this, some may
    be in rows and the fully loose tier must look (it flags them)."""
    policies = w.policies if isinstance(w.policies, list) else [w.policies]
    seen = w.contact_info is None
    for p in policies:
        pol = p.policy
        seen += (pol.policy_string is None) + (pol.policy_domain is None)
        seen += (pol.mx_host is None) + (pol.mx_host_pattern is None)
        seen += p.failure_details is None
    return seen
