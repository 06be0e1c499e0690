"""The `_mta-sts` TXT record (RFC 8461 §3.1): parse, select, generate."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tlsrpt.records.problems import Parsed, ProblemList, Selected
from tlsrpt.records.txt import EXT_NAME, EXT_VALUE, TxtRR, check_extension, select, split_fields

VERSION = "v=STSv1"
PREFIX = "sts-record"
_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")  # RFC 8461 §3.1: sts-id = "id=" 1*32(ALPHA / DIGIT)


@dataclass(frozen=True, slots=True)
class StsRecord:
    """A valid `_mta-sts` record: the policy `id` (compared for equality
    only, RFC 8461 §3.1; docs/conformance.md#sts-id) and the unknown fields, kept and ignored."""

    id: str
    extensions: dict[str, str] = field(default_factory=dict)


def parse_sts_record(text: str, *, strict: bool = True) -> Parsed[StsRecord]:
    """Parse one concatenated `_mta-sts` TXT value. Lenient parsing turns
    malformed extensions and stray whitespace into warnings."""
    problems = ProblemList(strict)
    fields = split_fields(text, VERSION, PREFIX, problems)
    policy_id: str | None = None
    extensions: dict[str, str] = {}
    seen = {"v"}
    for fld in fields or ():
        if fld.name in seen:  # RFC 8461 §3.2: later duplicates are ignored
            problems.warning(
                "sts-record-field-duplicate",
                f"field {fld.name!r} appears again; only the first one is used",
                fld.position,
            )
            continue
        seen.add(fld.name)
        if fld.name == "id":
            if _ID.match(fld.value):
                policy_id = fld.value
            else:
                problems.error(
                    "sts-record-id-invalid",
                    f"id {fld.value!r} must be 1 to 32 letters and digits (RFC 8461 §3.1)",
                    fld.value_position,
                )
        elif check_extension(fld, PREFIX, problems):
            extensions[fld.name] = fld.value
    if "id" not in seen and fields is not None:
        hint = next((f for f in fields if f.name.lower() == "id"), None)
        problems.error(
            "sts-record-id-missing",
            "the record has no 'id=' field (RFC 8461 §3.1: it is required)"
            + (f"; field names are case-sensitive, found {hint.name!r}" if hint else ""),
            hint.position if hint else None,
        )
    return problems.parsed(StsRecord(policy_id or "", extensions))


def select_sts_record(txt_rrs: Iterable[TxtRR], *, strict: bool = True) -> Selected[StsRecord]:
    """Pick and parse the record among all TXT RRs of `_mta-sts.<domain>`
    (RFC 8461 §3.1, docs/conformance.md#record-selection): RRs not beginning with `v=STSv1;` are
    dropped; unless exactly one is left, the domain has no MTA-STS."""
    return select(
        txt_rrs,
        VERSION,
        "sts-record",
        "RFC 8461 §3.1",
        lambda text: parse_sts_record(text, strict=strict),
    )


def generate_sts_record(policy_id: str, extensions: Mapping[str, str] | None = None) -> str:
    """A valid record, e.g. `v=STSv1; id=20240101T000000`. Raises ValueError
    naming the bad parameter."""
    if not _ID.match(policy_id):
        raise ValueError(f"id {policy_id!r} must be 1 to 32 letters and digits")
    extensions = dict(extensions or {})
    for name, value in extensions.items():
        if name in ("v", "id") or not EXT_NAME.match(name):
            raise ValueError(f"{name!r} cannot be an extension name")
        if not EXT_VALUE.match(value):
            raise ValueError(f"extension {name!r} value {value!r} has forbidden characters")
    return "; ".join([VERSION, f"id={policy_id}", *(f"{k}={v}" for k, v in extensions.items())])
