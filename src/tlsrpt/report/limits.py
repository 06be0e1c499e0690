"""Limits against hostile input, with safe defaults (RFC 8460 §5.2, §7)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from tlsrpt.report.errors import ReportError

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class Limits:
    """Every limit the parsers enforce. RFC 8460 §5.2 sets none; it notes
    that receivers commonly refuse about 10 MB (RFC 8460 §5.2; docs/conformance.md#size-limits)."""

    max_input_bytes: int = 10 * 1024 * 1024
    max_decompressed_bytes: int = 20 * 1024 * 1024
    max_depth: int = 32  # for untyped decoding (strict mode's I-JSON pass)
    max_policies: int = 10_000
    max_failure_details: int = 100_000
    max_message_bytes: int = 25 * 1024 * 1024
    max_mime_parts: int = 100
    # Plausibility of the counts (RFC 8460 §4.4 sets no bound; I-JSON allows
    # 2^53-1 for each one). Sessions in one report beyond this are not data:
    # the summaries' successful and failed sessions of all its policies
    # together, and apart from them the failed sessions of all its
    # failure-details rows (one session may have several rows, RFC 8460 §4).
    # 2^40 (1.1 * 10^12) is about three times the e-mail the whole internet
    # sends in a day (~3.5 * 10^11 messages). Such a report is refused
    # (`count-implausible`): every roll-up increment of one report stays
    # below 2^40, so a 64-bit roll-up row holds 2^23 (8.4 million) reports
    # at the bound for one domain, day and organization before the database
    # refuses more (`tlsrpt.store.writer.add_rollups`), and sums over them
    # are exact (`tlsrpt.store.sums`).
    max_sessions: int = 2**40


DEFAULT_LIMITS = Limits()

_CHUNK = 64 * 1024


def is_gzip(data: bytes) -> bool:
    """RFC 1952 magic bytes; the only test used, never a name or a type."""
    return data[:2] == GZIP_MAGIC


def gunzip(data: bytes, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Inflate gzip (multi-member too) as a stream, stopping at the limit.

    A gzip bomb is never inflated in full: at most `max_decompressed_bytes`
    plus one chunk is ever produced.
    """
    if len(data) > limits.max_input_bytes:
        raise ReportError(
            "too-large", f"{len(data)} bytes compressed, limit {limits.max_input_bytes}"
        )
    cap = limits.max_decompressed_bytes
    out: list[bytes] = []
    total = 0
    rest = data
    while rest:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        pending = rest
        try:
            while pending and not inflater.eof:
                chunk = inflater.decompress(pending, _CHUNK)
                pending = inflater.unconsumed_tail
                total += len(chunk)
                if total > cap:
                    raise ReportError(
                        "decompressed-too-large",
                        f"more than {cap} bytes once decompressed (gzip bomb?)",
                    )
                out.append(chunk)
        except zlib.error as exc:
            raise ReportError("gzip-invalid", f"corrupt gzip data: {exc}") from exc
        if not inflater.eof:
            raise ReportError("gzip-truncated", "gzip stream ends before its end marker")
        rest = inflater.unused_data
        if rest and not is_gzip(rest):
            # Trailing bytes that are not another member: ignore padding zeros,
            # refuse anything else so nothing is silently dropped.
            if rest.strip(b"\x00"):
                raise ReportError("gzip-invalid", f"{len(rest)} bytes of garbage after gzip data")
            break
    return b"".join(out)
