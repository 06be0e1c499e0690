"""What senders actually put on the wire: permissive types for decoding.

msgspec decodes and type-checks a report against these in C. They admit
every real-world variant we accept (spec checklist §6.5, peers.md §8): a
string or array `mx-host`, the prose key `mx-host-pattern`, numbers as
strings, `null` members, absent members (`UNSET`), a bare policy object in
place of the `policies` array. `tlsrpt.report.parse` then turns them into
the normalized model, recording each quirk as a deviation.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

Count = int | float | str
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
    mx_host_pattern: StrOrList = UNSET  # RFC 8460 §4.4 prose name (E2)


class WireSummary(msgspec.Struct, rename="kebab", gc=False):
    total_successful_session_count: Count | UnsetType = UNSET
    total_failure_session_count: Count | UnsetType = UNSET


class WireFailureDetail(msgspec.Struct, rename="kebab", gc=False):
    result_type: str
    failed_session_count: Count
    sending_mta_ip: OptStr = UNSET
    receiving_mx_hostname: OptStr = UNSET
    receiving_mx_helo: OptStr = UNSET
    receiving_ip: OptStr = UNSET
    additional_information: OptStr = UNSET
    additional_info_uri: OptStr = UNSET  # RFC 8460 §4.4 prose name (E2)
    failure_reason_code: OptStr = UNSET


class WirePolicyResult(msgspec.Struct, rename="kebab", gc=False):
    policy: WirePolicy
    summary: WireSummary
    failure_details: list[WireFailureDetail] | UnsetType | None = UNSET


class WireReport(msgspec.Struct, rename="kebab", gc=False):
    organization_name: str
    date_range: WireDateRange
    report_id: str | int
    policies: list[WirePolicyResult] | WirePolicyResult
    contact_info: OptStr = UNSET


decoder = msgspec.json.Decoder(WireReport)
