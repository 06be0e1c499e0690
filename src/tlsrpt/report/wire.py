"""What senders put on the wire: one permissive type, decoded once in C.

msgspec decodes and type-checks a report against these types. They admit
every variant we accept (docs/conformance.md#parser-leniency, #sender-quirks) — a string or
array `mx-host`, the prose keys `mx-host-pattern` and `additional-info-uri`,
numbers as strings, `null` members, absent members (`UNSET`), a bare policy
object in place of the `policies` array, dates in any text form — so one
decode serves every input, and `tlsrpt.report.normalize` turns the result
into the model, recording each quirk as a deviation.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

LooseCount = int | float | str
OptStr = str | None | UnsetType
StrOrList = list[str] | str | None | UnsetType


class WireDateRange(msgspec.Struct, rename="kebab", gc=False):
    start_datetime: str
    end_datetime: str


class WirePolicy(msgspec.Struct, rename="kebab", gc=False):
    policy_type: str
    policy_string: StrOrList = UNSET
    policy_domain: OptStr = UNSET
    mx_host: StrOrList = UNSET
    # RFC 8460 §4.4 prose name (docs/conformance.md#template-keys)
    mx_host_pattern: StrOrList = UNSET


class WireSummary(msgspec.Struct, rename="kebab", gc=False):
    total_successful_session_count: LooseCount | UnsetType = UNSET
    total_failure_session_count: LooseCount | UnsetType = UNSET


class WireRow(msgspec.Struct, rename="kebab", gc=False):
    """A failure-details row. The first eight fields are those of the model's
    `FailureDetail`, in its order, so a clean row maps onto it by position.
    Absent and `null` both decode as None here; `normalize` tells them apart
    only when the bytes hold nulls it has not accounted for (rare)."""

    result_type: str
    failed_session_count: LooseCount
    sending_mta_ip: str | None = None
    receiving_mx_hostname: str | None = None
    receiving_mx_helo: str | None = None
    receiving_ip: str | None = None
    additional_information: str | None = None
    failure_reason_code: str | None = None
    # RFC 8460 §4.4 prose name (docs/conformance.md#template-keys)
    additional_info_uri: str | None = None


class WirePolicyResult(msgspec.Struct, rename="kebab", gc=False):
    policy: WirePolicy
    summary: WireSummary
    failure_details: list[WireRow] | UnsetType | None = UNSET


class WireReport(msgspec.Struct, rename="kebab", gc=False):
    organization_name: str
    date_range: WireDateRange
    report_id: str | int
    policies: list[WirePolicyResult] | WirePolicyResult
    contact_info: OptStr = UNSET


decoder = msgspec.json.Decoder(WireReport)


# ---- locating nulls inside rows (only decoded when there are some) --------


def nulls_outside_rows(w: WireReport) -> int:
    """How many JSON nulls the decode saw outside the rows, where `null` and
    absent are distinct. When the bytes hold more, some may be row members
    (or text inside strings), and `row_nulls` finds them."""
    policies = w.policies if isinstance(w.policies, list) else [w.policies]
    seen = int(w.contact_info is None)
    for p in policies:
        pol = p.policy
        seen += (pol.policy_string is None) + (pol.policy_domain is None)
        seen += (pol.mx_host is None) + (pol.mx_host_pattern is None)
        seen += p.failure_details is None
    return seen


class _NullProbeRow(msgspec.Struct, rename="kebab", gc=False):
    sending_mta_ip: OptStr = UNSET
    receiving_mx_hostname: OptStr = UNSET
    receiving_mx_helo: OptStr = UNSET
    receiving_ip: OptStr = UNSET
    additional_information: OptStr = UNSET
    failure_reason_code: OptStr = UNSET
    additional_info_uri: OptStr = UNSET


class _NullProbePolicyResult(msgspec.Struct, rename="kebab", gc=False):
    failure_details: list[_NullProbeRow] | UnsetType | None = UNSET


class _NullProbeReport(msgspec.Struct, gc=False):
    policies: list[_NullProbePolicyResult] | _NullProbePolicyResult


_null_probe = msgspec.json.Decoder(_NullProbeReport)


def row_nulls(body: bytes) -> list[tuple[int, int, str]]:
    """(policy index, row index, member name) of every null row member."""
    probe = _null_probe.decode(body)
    policies = probe.policies if isinstance(probe.policies, list) else [probe.policies]
    found = []
    for i, pr in enumerate(policies):
        if isinstance(pr.failure_details, list):
            for j, row in enumerate(pr.failure_details):
                for field in row.__struct_fields__:
                    if getattr(row, field) is None:
                        found.append((i, j, field.replace("_", "-")))
    return found
