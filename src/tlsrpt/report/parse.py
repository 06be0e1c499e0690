"""Parse RFC 8460 §4 JSON reports, plain or gzip, strictly or leniently.

`parse_report(data)` is a pure function over bytes. Lenient mode (the
default) accepts what real senders send and returns every quirk it accepted
as a `Deviation`; strict mode rejects any deviation that RFC 8460 forbids.
All rejections are `ReportError` with a JSON path and a reason.

Pipeline: size and gzip limits -> a decode straight into the model when the
report is in its shape (`fast`), else one permissive typed decode (`wire`) ->
`normalize`.
"""

from __future__ import annotations

import json
import re
from array import array
from itertools import accumulate
from typing import Any

import msgspec

from tlsrpt.report import fast
from tlsrpt.report.errors import ReportError
from tlsrpt.report.limits import DEFAULT_LIMITS, GZIP_MAGIC, Limits, gunzip
from tlsrpt.report.model import Deviation, Report
from tlsrpt.report.normalize import Findings, normalize
from tlsrpt.report.wire import decoder, nulls_outside_rows, row_nulls

BOM = b"\xef\xbb\xbf"
_BOM = Deviation("utf8-bom", "$", "UTF-8 byte order mark before the JSON")
_VALIDATION_AT = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


class ParsedReport(msgspec.Struct, gc=False):
    report: Report
    deviations: list[Deviation]
    compressed: bool = False


def parse_report(
    data: bytes, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS
) -> ParsedReport:
    """Parse one report given as JSON or gzip-compressed JSON bytes.

    Gzip is detected by its magic bytes only (RFC 8460 §5.1; docs/conformance.md#gzip-detection),
    never by a file name or a content type.
    """
    if not data:
        raise ReportError("empty-input", "no bytes to parse")
    if len(data) > limits.max_input_bytes:
        raise ReportError("too-large", f"{len(data)} bytes, limit {limits.max_input_bytes}")
    out: list[Deviation] = []
    body = data
    compressed = False
    if data[0] != 0x7B:  # not "{": gzip, a BOM, white space, or not JSON
        compressed = data.startswith(GZIP_MAGIC)
        if compressed:
            body = gunzip(data, limits)
        if body.startswith(BOM):  # RFC 8259 §8.1: parsers MAY ignore a BOM
            body = body[3:]
            out.append(_BOM)
    if len(body) > limits.max_decompressed_bytes:
        raise ReportError(
            "decompressed-too-large", f"{len(body)} bytes, limit {limits.max_decompressed_bytes}"
        )
    if strict:  # the only untyped decode: bound its depth first
        _check_depth(body, limits.max_depth)
        _check_duplicate_keys(body)
    # Straight into the model when the report is in its shape (`fast`).
    report = fast.decode(body, out, limits)
    if report is None:
        out = Findings(out)
        report = decode_full(body, out, limits)
    if strict:
        for dev in out:
            if dev.violation:
                raise ReportError("strict-violation", f"{dev.code}: {dev.message}", dev.path)
    return ParsedReport(report, out, compressed)


def decode_full(body: bytes, out: Findings, limits: Limits) -> Report:
    """The path for every input: one permissive typed decode in C, then the
    normalization pass."""
    try:
        wire = decoder.decode(body)
        nulls = body.count(b"null")
        located = row_nulls(body) if nulls and nulls > nulls_outside_rows(wire) else None
    except UnicodeDecodeError as exc:
        raise ReportError("not-utf8", f"invalid UTF-8 at byte {exc.start}") from exc
    except msgspec.ValidationError as exc:
        match = _VALIDATION_AT.match(str(exc))
        assert match is not None
        raise ReportError("schema", match["reason"], match["path"] or "$") from exc
    except msgspec.DecodeError as exc:
        # Invalid UTF-8 in a string usually comes out as UnicodeDecodeError,
        # but now and then as "invalid character" for the very same bytes
        # (seen in CI): JSON text with bad UTF-8 is named as such either way.
        if body.lstrip()[:1] in (b"{", b"["):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise ReportError("not-utf8", f"invalid UTF-8 at byte {bad.start}") from exc
        raise ReportError("json-invalid", str(exc)) from exc
    except RecursionError as exc:
        raise ReportError("too-deep", "JSON nested too deeply") from exc
    return normalize(wire, out, limits, located)


def _check_depth(body: bytes, max_depth: int) -> None:
    """Refuse nesting deeper than `max_depth` before an untyped decode.

    The typed decoders need no such pass: the schema bounds the depth of
    everything they keep, and unknown members are skipped in C under
    msgspec's recursion guard (reported as `too-deep`). Cheap when there are
    fewer brackets than the limit; otherwise strings are removed and the
    bracket depth summed, all in C-level loops.
    """
    if body.count(b"{") + body.count(b"[") <= max_depth:
        return
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    steps = array("b", brackets.translate(_BRACKET_STEP))
    if steps and max(accumulate(steps)) > max_depth:
        raise ReportError("too-deep", f"JSON nested deeper than {max_depth} levels")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ReportError("duplicate-key", f"member {key!r} appears twice (RFC 7493 §2.3)")
        obj[key] = value
    return obj


def _check_duplicate_keys(body: bytes) -> None:
    """RFC 8460 §4; docs/conformance.md#i-json: a report is I-JSON, so member names are unique."""
    try:
        json.loads(body, object_pairs_hook=_reject_duplicates)
    except ReportError:
        raise
    except (ValueError, RecursionError):
        pass  # malformed JSON: the typed decoder reports it with a better message
