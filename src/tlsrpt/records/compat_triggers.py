"""What the sender-compatibility rules look at in a record or policy.

`facts(kind, data, txt_rrs)` splits the input the way the RFC grammar does
(TXT fields after the version; policy lines) and keeps tlsrpt's tolerant
reading beside it. Each trigger below takes the facts and returns a `Hit`
(where, and the detail to show) or None. Pure functions, no I/O; the rules
that use them are in `compat_rules.py` (docs/conformance.md#sender-compatibility).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tlsrpt.records.problems import Problem
from tlsrpt.records.sts_policy import MAX_AGE_LIMIT, parse_sts_policy
from tlsrpt.records.sts_record import parse_sts_record, select_sts_record
from tlsrpt.records.tlsrpt_record import parse_tlsrpt_record, select_tlsrpt_record
from tlsrpt.records.txt import EXT_NAME, WSP

Kind = Literal["sts-record", "tlsrpt-record", "sts-policy"]
KINDS: tuple[Kind, ...] = ("tlsrpt-record", "sts-record", "sts-policy")
INT32_MAX = 2**31 - 1  # Go's ParseInt(…, 32) and Java's Integer.parseInt stop here
_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.\-]+\Z")
_VERSIONS = {"sts-record": "v=STSv1", "tlsrpt-record": "v=TLSRPTv1"}
_KNOWN_FIELDS = {"sts-record": ("v", "id"), "tlsrpt-record": ("v", "rua")}
_KNOWN_KEYS = ("version", "mode", "max_age", "mx")


@dataclass(frozen=True, slots=True)
class Hit:
    position: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class TxtField:
    """One `name=value` field of a TXT record after the version, as written
    (`raw` without the surrounding whitespace); `empty` for nothing between
    two ';'."""

    position: int
    raw: str
    name: str
    value: str
    has_eq: bool

    @property
    def empty(self) -> bool:
        return not self.raw


@dataclass(frozen=True, slots=True)
class Line:
    position: int
    text: str  # without the line end


@dataclass(frozen=True, slots=True)
class Facts:
    kind: Kind
    text: str | None  # the record chosen, or the decoded policy
    txt_rrs: tuple[str, ...]
    fields: tuple[TxtField, ...]
    lines: tuple[Line, ...]
    tolerant_valid: bool
    tolerant_problems: tuple[Problem, ...]

    def problem(self, *codes: str) -> Problem | None:
        return next((p for p in self.tolerant_problems if p.code in codes), None)


Trigger = Callable[[Facts], Hit | None]


def facts(kind: Kind, data: str | bytes | None, txt_rrs: Sequence[str] = ()) -> Facts:
    if kind == "sts-policy":
        read = parse_sts_policy(data or b"", tolerant=True)
        policy = _decoded(data)
        return Facts(kind, policy, (), (), _lines(policy), read.valid, read.problems)
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    rrs = tuple(txt_rrs) or ((text,) if text is not None else ())
    tolerant: Any
    if kind == "sts-record":
        tolerant = (
            select_sts_record(rrs, strict=False)
            if len(rrs) != 1
            else parse_sts_record(rrs[0], strict=False)
        )
    else:
        tolerant = (
            select_tlsrpt_record(rrs, strict=False)
            if len(rrs) != 1
            else parse_tlsrpt_record(rrs[0], strict=False)
        )
    fields = _fields(text, _VERSIONS[kind]) if text is not None else ()
    return Facts(kind, text, rrs, fields, (), tolerant.valid, tolerant.problems)


def _decoded(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", "replace")


def _lines(text: str) -> tuple[Line, ...]:
    """The policy's lines as the parser splits them (RFC 8461 §3.2, EID 6253)."""
    raw = text.split("\n")
    if raw[-1] == "":
        raw.pop()
    lines, offset = [], 0
    for part in raw:
        lines.append(Line(offset, part.removesuffix("\r")))
        offset += len(part) + 1
    return tuple(lines)


def _fields(text: str, version: str) -> tuple[TxtField, ...]:
    """The fields after the version; the final empty piece after a trailing
    ';' is the optional delimiter, not a field (RFC 8460 §3, RFC 8461 §3.1)."""
    if not text.startswith(version):
        return ()
    pieces = text.split(";")
    fields, offset = [], len(pieces[0]) + 1
    for index, piece in enumerate(pieces[1:], 1):
        raw = piece.strip(WSP)
        position = offset + len(piece) - len(piece.lstrip(WSP))
        offset += len(piece) + 1
        if not raw and index == len(pieces) - 1:
            break
        name, eq, value = raw.partition("=")
        fields.append(TxtField(position, raw, name, value, bool(eq)))
    return tuple(fields)


def _extensions(f: Facts) -> list[TxtField]:
    known = _KNOWN_FIELDS[f.kind] if f.kind != "sts-policy" else ()
    return [x for x in f.fields if not x.empty and x.has_eq and x.name not in known]


# --- TXT records (RFC 8460 §3, RFC 8461 §3.1) --------------------------------


def txt_extension_value_empty(f: Facts) -> Hit | None:
    hit = next((x for x in _extensions(f) if x.value == ""), None)
    return Hit(hit.position, f"{hit.raw!r} has an empty value") if hit else None


def txt_name_too_long(f: Facts) -> Hit | None:
    hit = next((x for x in _extensions(f) if len(x.name) > 32 and _NAME_CHARS.match(x.name)), None)
    return (
        Hit(hit.position, f"field name {hit.name!r} is {len(hit.name)} characters") if hit else None
    )


def txt_name_invalid(f: Facts) -> Hit | None:
    """A name with characters outside the grammar, or starting with '_'."""
    for x in _extensions(f):
        if (x.name and not _NAME_CHARS.match(x.name)) or x.name[:1] == "_":
            return Hit(x.position, f"field name {x.name!r}")
    return None


def txt_name_leading_punct(f: Facts) -> Hit | None:
    for x in _extensions(f):
        if x.name[:1] in ("-", ".") and len(x.name) <= 32 and _NAME_CHARS.match(x.name):
            return Hit(x.position, f"field name {x.name!r}")
    return None


def txt_field_empty(f: Facts) -> Hit | None:
    hit = next((x for x in f.fields if x.empty), None)
    return Hit(hit.position, "two ';' with nothing between them") if hit else None


def txt_trailing_whitespace(f: Facts) -> Hit | None:
    text = f.text or ""
    if text and text[-1] in WSP and not text.rstrip(WSP).endswith(";"):
        return Hit(len(text.rstrip(WSP)), "whitespace after the last field without a ';'")
    return None


def sts_id_invalid(f: Facts) -> Hit | None:
    hit = next((x for x in f.fields if x.name == "id" and x.value), None)
    if hit is None or _ID.match(hit.value):
        return None
    return Hit(hit.position, f"id {hit.value!r}")


def sts_id_repeated(f: Facts) -> Hit | None:
    return _repeated(f, "id")


def tlsrpt_rua_repeated(f: Facts) -> Hit | None:
    return _repeated(f, "rua")


def _repeated(f: Facts, name: str) -> Hit | None:
    values = [x for x in f.fields if x.name == name and x.has_eq]
    if len({x.value for x in values}) < 2:
        return None
    shown = ", then ".join(repr(x.value) for x in values)
    return Hit(values[1].position, f"{name}= given {len(values)} times: {shown}")


def tlsrpt_rua_spaces(f: Facts) -> Hit | None:
    rua = next((x for x in f.fields if x.name == "rua" and x.has_eq), None)
    if rua is None or not any(c in WSP for c in rua.value):
        return None
    first = re.split(r"[ \t,]", rua.value, maxsplit=1)[0]
    return Hit(rua.position, f"rua list {rua.value!r} (read as {first!r} only)")


def sts_other_txt(f: Facts) -> Hit | None:
    others = [rr for rr in f.txt_rrs if not rr.startswith("v=STSv1")]
    if not others or len(f.txt_rrs) < 2:
        return None
    return Hit(None, f"{len(f.txt_rrs)} TXT records at the name, {len(others)} not MTA-STS")


# --- the policy (RFC 8461 §3.2) ------------------------------------------------


def _from_problem(*codes: str) -> Trigger:
    def trigger(f: Facts) -> Hit | None:
        problem = f.problem(*codes)
        return Hit(problem.position, problem.message) if problem else None

    trigger.__name__ = "problem_" + "_".join(c.removeprefix("sts-policy-") for c in codes)
    return trigger


policy_version = _from_problem("sts-policy-version-missing", "sts-policy-version-invalid")
policy_mode = _from_problem("sts-policy-mode-missing", "sts-policy-mode-invalid")
policy_max_age_missing = _from_problem("sts-policy-max-age-missing")
policy_mx_missing = _from_problem("sts-policy-mx-missing")
policy_mx_invalid = _from_problem("sts-policy-mx-invalid")
policy_mx_trailing_dot = _from_problem("sts-policy-mx-trailing-dot")
policy_extension_value_invalid = _from_problem("sts-policy-value-invalid")


def _first_value(f: Facts, key: str) -> tuple[int, str] | None:
    for line in f.lines:
        name, colon, value = line.text.partition(":")
        if colon and name == key:
            lead = len(value) - len(value.lstrip(WSP))
            return line.position + len(name) + 1 + lead, value.strip(WSP)
    return None


def _max_age_digits(f: Facts) -> tuple[int, str] | None:
    """Where the first max_age value is and its text, when it is all ASCII digits."""
    found = _first_value(f, "max_age")
    if found is None or not found[1].isascii() or not found[1].isdigit():
        return None
    return found


def _max_age_seconds(f: Facts) -> tuple[int, int] | None:
    """(position, value) of a max_age of at most 10 digits: longer ones are
    never converted (a hostile policy may hold thousands of digits)."""
    found = _max_age_digits(f)
    if found is None or len(found[1]) > 10:
        return None
    return found[0], int(found[1])


def policy_max_age_not_digits(f: Facts) -> Hit | None:
    found = _first_value(f, "max_age")
    if found is None or (found[1].isascii() and found[1].isdigit()):
        return None
    return Hit(found[0], f"max_age {found[1][:20]!r}")


def policy_max_age_too_long(f: Facts) -> Hit | None:
    found = _max_age_digits(f)
    if found is None or len(found[1]) <= 10:
        return None
    return Hit(found[0], f"max_age {found[1][:20]}… has {len(found[1])} digits")


def policy_max_age_over_limit(f: Facts) -> Hit | None:
    found = _max_age_seconds(f)
    if found is None or not MAX_AGE_LIMIT < found[1] <= INT32_MAX:
        return None
    return Hit(found[0], f"max_age {found[1]} is above {MAX_AGE_LIMIT}")


def policy_max_age_over_int32(f: Facts) -> Hit | None:
    found = _max_age_seconds(f)
    if found is None or found[1] <= INT32_MAX:
        return None
    return Hit(found[0], f"max_age {found[1]} is above {INT32_MAX}")


def policy_empty_line(f: Facts) -> Hit | None:
    for number, line in enumerate(f.lines, 1):
        if line.text == "":
            return Hit(line.position, f"line {number} is empty")
    return None


def policy_whitespace_line(f: Facts) -> Hit | None:
    for number, line in enumerate(f.lines, 1):
        if line.text and not line.text.strip(WSP):
            return Hit(line.position, f"line {number} holds only whitespace")
    return None


def policy_line_without_colon(f: Facts) -> Hit | None:
    for number, line in enumerate(f.lines, 1):
        if line.text.strip(WSP) and ":" not in line.text:
            return Hit(line.position, f"line {number} {line.text[:40]!r} has no ':'")
    return None


def policy_value_with_colon(f: Facts) -> Hit | None:
    """An extension value holding ':' (allowed: a value is visible characters)."""
    for line in f.lines:
        key, colon, value = line.text.partition(":")
        if colon and ":" in value and EXT_NAME.match(key) and key not in _KNOWN_KEYS:
            return Hit(line.position, f"the value of {key!r} holds ':'")
    return None


def _bad_keys(f: Facts) -> list[tuple[Line, str]]:
    keys = []
    for line in f.lines:
        key, colon, _ = line.text.partition(":")
        if colon and not EXT_NAME.match(key):
            keys.append((line, key))
    return keys


def policy_key_too_long(f: Facts) -> Hit | None:
    for line, key in _bad_keys(f):
        if len(key) > 32 and _NAME_CHARS.match(key):
            return Hit(line.position, f"key {key!r} is {len(key)} characters")
    return None


def policy_key_invalid(f: Facts) -> Hit | None:
    """Characters outside the grammar (whitespace included), an empty key, or
    a key starting with '_'."""
    for line, key in _bad_keys(f):
        if not _NAME_CHARS.match(key) or key[:1] == "_":
            return Hit(line.position, f"key {key!r}")
    return None


def policy_key_leading_punct(f: Facts) -> Hit | None:
    for line, key in _bad_keys(f):
        if key[:1] in ("-", ".") and len(key) <= 32 and _NAME_CHARS.match(key):
            return Hit(line.position, f"key {key!r}")
    return None


def policy_key_repeated(f: Facts) -> Hit | None:
    """version, mode or max_age given again with another value."""
    seen: dict[str, str] = {}
    for line in f.lines:
        key, colon, value = line.text.partition(":")
        if not colon or key not in _KNOWN_KEYS or key == "mx":
            continue
        value = value.strip(WSP)
        if key in seen and seen[key] != value:
            return Hit(line.position, f"{key} is {seen[key]!r}, then {value!r}")
        seen.setdefault(key, value)
    return None
