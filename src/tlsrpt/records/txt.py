"""What the `_smtp._tls` and `_mta-sts` TXT records have in common.

Both grammars (RFC 8460 §3, RFC 8461 §3.1) are
    record      = version 1*(field-delim field) [field-delim]
    field-delim = *WSP ";" *WSP
    extension   = ext-name "=" ext-value
    ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
    ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)
so the splitting into fields, the character check and the selection among
several TXT RRs live here; the record modules check the field values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT

from tlsrpt.records.problems import Parsed, ProblemList, Selected

T = TypeVar("T")

WSP = " \t"
EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}\Z")
EXT_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+\Z")
_BAD_CHAR = re.compile(r"[^\x20-\x7e\t]")
# Misspelt versions seen in the wild (docs/conformance.md#version-typo: a published guide
# told people to write v=TSLRPTv1).
_TYPOS = {"v=TLSRPTv1": "v=TSLRPTv1"}

# One TXT RR as callers hold it: already concatenated text, raw bytes, or the
# list of character-strings dnspython returns in `rdata.strings`.
TxtRR = str | bytes | Sequence[bytes | str]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: str
    position: int  # offset of the name
    value_position: int


def txt_value(rr: TxtRR) -> str:
    """One TXT RR's text: its character-strings joined with nothing between
    them (RFC 8460 §3, RFC 8461 §3.1, as in RFC 7208 §3.3). Bytes that are not
    UTF-8 survive as lone surrogates so the character check can point at them."""
    if isinstance(rr, str):
        return rr
    if isinstance(rr, bytes | bytearray):
        return bytes(rr).decode("utf-8", "surrogateescape")
    return "".join(txt_value(part) for part in rr)


def describe_char(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"byte 0x{code - 0xDC00:02X} that is not UTF-8"
    return f"character U+{code:04X}"


def split_fields(text: str, version: str, prefix: str, problems: ProblemList) -> list[Field] | None:
    """Check the version and split the rest into fields. Reports grammar
    problems with codes `<prefix>-…`; returns the well-formed fields, or
    None when the characters or the version already rule the record out."""
    bad = _BAD_CHAR.search(text)
    if bad:
        count = len(_BAD_CHAR.findall(text))
        more = f" (and {count - 1} more)" if count > 1 else ""
        problems.error(
            f"{prefix}-character-invalid",
            f"{describe_char(bad.group())} at position {bad.start()}{more}: the record may "
            "hold only printable US-ASCII, space and tab",
            bad.start(),
        )
        return None
    if not _check_version(text, version, prefix, problems):
        return None
    fields: list[Field] = []
    pos, end = len(version), len(text)
    while pos < end:
        start = pos
        while pos < end and text[pos] in WSP:
            pos += 1
        if pos == end:
            problems.relaxable(
                f"{prefix}-trailing-whitespace",
                "whitespace at the end of the record is only allowed after a final ';'",
                start,
            )
            break
        if text[pos] != ";":  # only possible right after the version
            problems.error(f"{prefix}-version-invalid", f"'{version}' must be followed by ';'", pos)
            return None
        pos += 1
        while pos < end and text[pos] in WSP:
            pos += 1
        if pos == end:
            break  # the one optional trailing delimiter
        semi = text.find(";", pos)
        stop = end if semi < 0 else semi
        raw = text[pos:stop].rstrip(WSP)
        if not raw:
            problems.relaxable(
                f"{prefix}-field-empty", "empty field: two ';' with nothing between them", pos
            )
        else:
            field = _split_field(raw, pos, prefix, problems)
            if field is not None:
                fields.append(field)
        pos += len(raw)
    return fields


def _check_version(text: str, version: str, prefix: str, problems: ProblemList) -> bool:
    after = text[len(version) : len(version) + 1]
    if text.startswith(version) and after in ("", ";", " ", "\t"):
        return True
    code = f"{prefix}-version-invalid"
    shown = text[: len(version) + 8]
    if text.startswith(version):
        problems.error(code, f"'{version}' must be followed by ';', found {shown!r}", len(version))
    elif text.lstrip(WSP).startswith(version):
        problems.error(code, f"whitespace before '{version}': the version must come first", 0)
    elif text.startswith('"'):
        problems.error(
            code, "the record starts with a double quote; give the value without DNS quoting", 0
        )
    elif text.lower().startswith(version.lower()):
        problems.error(
            code,
            f"the version is case-sensitive: expected '{version}', found {text[: len(version)]!r}",
            0,
        )
    elif version in _TYPOS and text.lower().startswith(_TYPOS[version].lower()):
        problems.error(code, f"'{_TYPOS[version]}' is a typo: the version is '{version}'", 0)
    else:
        problems.error(code, f"the record must start with '{version}', found {shown!r}", 0)
    return False


def _split_field(raw: str, pos: int, prefix: str, problems: ProblemList) -> Field | None:
    code = f"{prefix}-field-invalid"
    eq = raw.find("=")
    if eq < 0:
        problems.relaxable(code, f"field {raw!r} is not name=value", pos)
        return None
    name, value = raw[:eq], raw[eq + 1 :]
    for spaced, message, at in (
        (name.rstrip(WSP) != name, "before", pos + len(name.rstrip(WSP))),
        (value.lstrip(WSP) != value, "after", pos + eq + 1),
    ):
        # RFC 8460 §3; docs/conformance.md#tlsrpt-record-grammar: no whitespace around "="
        if spaced:
            problems.relaxable(code, f"whitespace {message} '=' in {raw!r}", at)
            if problems.strict:
                return None
    name, value = name.rstrip(WSP), value.lstrip(WSP)
    if not EXT_NAME.match(name):
        problems.relaxable(
            code,
            f"field name {name!r} must be 1-32 letters, digits, '_', '-', '.', "
            "starting with a letter or digit",
            pos,
        )
        return None
    return Field(name, value, pos, pos + len(raw) - len(value))


def check_extension(field: Field, prefix: str, problems: ProblemList) -> bool:
    """RFC 8460 §3 / RFC 8461 §3.1: unknown fields are accepted and ignored
    when they are well-formed."""
    if EXT_VALUE.match(field.value):
        return True
    if not field.value:
        message = f"extension {field.name!r} has an empty value"
    else:
        message = (
            f"extension {field.name!r} value {field.value!r} may not contain spaces, '=' or ';'"
        )
    problems.relaxable(f"{prefix}-extension-value-invalid", message, field.value_position)
    return False


def select(
    rrs: Iterable[TxtRR],
    version: str,
    prefix: str,
    rfc: str,
    parse: Callable[[str], Parsed[T]],
) -> Selected[T]:
    """RFC 8460 §3 / RFC 8461 §3.1 selection: keep the RRs that begin with
    the version and ';'; if not exactly one is left the domain has no such
    policy, otherwise the one left is parsed. Following RFC 8460 §3;
    docs/conformance.md#record-selection (and RFC 8461 EID 6285), whitespace is allowed between the
    version and the ';'. Near misses get a warning, as senders skip them silently."""
    problems = ProblemList()
    candidate = re.compile(re.escape(version) + r"[ \t]*;")
    texts = [txt_value(rr) for rr in rrs]
    chosen: list[int] = []
    for index, text in enumerate(texts):
        if candidate.match(text):
            chosen.append(index)
            continue
        folded = text.lstrip(WSP + '"').lower()
        if version in _TYPOS and folded.startswith(_TYPOS[version].lower()):
            problems.warning(
                f"{prefix.split('-')[0]}-version-typo",
                f"TXT record {index + 1} starts with the typo '{_TYPOS[version]}', so senders "
                f"ignore it; the version is '{version}'",
            )
        elif folded.startswith(version.lower()):
            problems.warning(
                f"{prefix}-ignored",
                f"TXT record {index + 1} ({text[:40]!r}) looks like {version} but does not "
                f"begin with exactly '{version};', so senders ignore it",
            )
    if not chosen:
        problems.error(
            f"{prefix}-missing",
            f"none of the {len(texts)} TXT record(s) begins with '{version};': the domain "
            f"does not publish this policy ({rfc})",
        )
    elif len(chosen) > 1:
        numbers = ", ".join(str(i + 1) for i in chosen)
        problems.error(
            f"{prefix}-multiple",
            f"{len(chosen)} TXT records ({numbers}) begin with '{version};'; senders then "
            f"treat the domain as having none ({rfc}). Publish exactly one",
        )
    if len(chosen) != 1:
        return Selected(None, tuple(problems.items), None)
    text = texts[chosen[0]]
    value, found = parse(text)
    problems.extend(found)
    return Selected(value, tuple(problems.items), text)


def txt_presentation(value: str) -> str:
    """The record as it goes into a zone file: quoted character-strings of at
    most 255 bytes each, escaped (RFC 1035 §5.1)."""
    data = value.encode("utf-8")
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    rdata = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)
    return rdata.to_text()
