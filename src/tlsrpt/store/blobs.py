"""Raw input bytes as stored: zlib-compressed, unless already gzip."""

from __future__ import annotations

import zlib

from tlsrpt.report.limits import is_gzip

ZLIB_LEVEL = 6


def pack(data: bytes) -> tuple[str, bytes]:
    """(codec, stored bytes). Gzip input is stored as is: compressing it again
    gains nothing."""
    if is_gzip(data):
        return "none", data
    return "zlib", zlib.compress(data, ZLIB_LEVEL)


def unpack(codec: str, stored: bytes) -> bytes:
    if codec == "none":
        return stored
    if codec == "zlib":
        return zlib.decompress(stored)
    raise ValueError(f"unknown raw input codec {codec!r}")
