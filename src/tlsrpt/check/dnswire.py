"""DNS messages on the wire, as far as the checker's stub resolver needs them.

Sans-I/O: a query is built as bytes (RFC 1035 §4.1 with an EDNS(0) OPT
record, RFC 6891 §6), a response is read from bytes into the answer to the
question — the records of the asked type at the end of the CNAME chain
(RFC 1034 §3.6.2), the chain itself, the AD bit and the rcode. Only the
types the checker asks for are decoded (A, AAAA, MX, TXT, TLSA, CNAME).

Written for bulk checks: dnspython's general message classes cost about
half of the checker's CPU per domain; this reads a response in one pass
over the bytes. Every length and pointer is bounds-checked: a malformed
response raises `WireError`, never anything else.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name

TYPES = {"A": 1, "CNAME": 5, "MX": 15, "TXT": 16, "AAAA": 28, "TLSA": 52}
CNAME, OPT = 5, 41
CLASS_IN = 1

# Header flags (RFC 1035 §4.1.1; AD and CD: RFC 4035 §3.2).
QR, TC, RD, AD, CD = 0x8000, 0x0200, 0x0100, 0x0020, 0x0010

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
NOERROR, NXDOMAIN = 0, 3

MAX_CHAIN = 16  # CNAME hops followed inside one response
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH after the owner name
_ESCAPED = frozenset(b'"().;\\@$')


class WireError(ValueError):
    """The bytes are not a well-formed DNS message."""


def rcode_text(rcode: int) -> str:
    return RCODES.get(rcode, f"RCODE{rcode}")


def encode_name(name: str) -> bytes:
    """A presentation-format name -> wire format (absolute; RFC 1035 §3.1).

    Plain ASCII names take a fast path; names with escapes or non-ASCII
    characters go through dnspython, as they always did. Raises WireError.
    """
    text = name[:-1] if name.endswith(".") and not name.endswith("\\.") else name
    if not text:
        return b"\x00"
    if text.isascii() and "\\" not in text:
        wire = bytearray()
        for label in text.encode("ascii").split(b"."):
            if not label or len(label) > 63:
                raise WireError(f"bad label in {name!r}")
            wire.append(len(label))
            wire += label
        wire.append(0)
        if len(wire) > 255:
            raise WireError(f"{name!r} is longer than 255 octets")
        return bytes(wire)
    try:
        return dns.name.from_text(name).to_wire() or b"\x00"
    except (dns.exception.DNSException, ValueError) as exc:
        raise WireError(str(exc) or type(exc).__name__) from None


def build_query(qid: int, qname: bytes, qtype: int, flags: int, payload: int) -> bytes:
    """One question with an EDNS(0) OPT record advertising `payload` (RFC 6891 §6.1.2)."""
    header = _HEADER.pack(qid, flags, 1, 0, 0, 1)
    return (
        header
        + qname
        + struct.pack("!HH", qtype, CLASS_IN)
        + b"\x00"
        + _RR.pack(OPT, payload, 0, 0)
    )


def _read_name(msg: bytes, offset: int) -> tuple[tuple[bytes, ...], int]:
    """Labels (lower-cased) of the name at `offset` and the offset after it.

    Compression pointers (RFC 1035 §4.1.4) must point backwards, which rules
    out loops; the expanded name may not exceed 255 octets.
    """
    labels: list[bytes] = []
    size = 1
    end = -1
    limit = offset  # a pointer must land before the name it is part of
    while True:
        if offset >= len(msg):
            raise WireError("name runs past the end of the message")
        length = msg[offset]
        if length >= 0xC0:
            if offset + 1 >= len(msg):
                raise WireError("truncated compression pointer")
            target = ((length & 0x3F) << 8) | msg[offset + 1]
            if end < 0:
                end = offset + 2
            if target >= limit:
                raise WireError("compression pointer does not point backwards")
            offset = limit = target
            continue
        if length > 63:
            raise WireError("unknown label type")
        offset += 1
        if length == 0:
            return tuple(labels), (end if end >= 0 else offset)
        if offset + length > len(msg):
            raise WireError("label runs past the end of the message")
        size += length + 1
        if size > 255:
            raise WireError("name longer than 255 octets")
        labels.append(msg[offset : offset + length].lower())
        offset += length


def _skip_name(msg: bytes, offset: int) -> int:
    """The offset after the name at `offset`, without reading it (records the
    checker skips); a pointer ends a name, and is checked when names are read."""
    while True:
        if offset >= len(msg):
            raise WireError("name runs past the end of the message")
        length = msg[offset]
        if length >= 0xC0:
            return offset + 2
        if length > 63:
            raise WireError("unknown label type")
        offset += length + 1
        if length == 0:
            return offset


def name_text(labels: tuple[bytes, ...]) -> str:
    """Presentation format without the final dot (RFC 1035 §5.1 escapes); root is '.'."""
    if not labels:
        return "."
    parts = []
    for label in labels:
        if all(0x20 < c < 0x7F and c not in _ESCAPED for c in label):
            parts.append(label.decode("ascii"))
            continue
        out = []
        for c in label:
            if c in _ESCAPED:
                out.append("\\" + chr(c))
            elif 0x20 < c < 0x7F:
                out.append(chr(c))
            else:
                out.append(f"\\{c:03d}")
        parts.append("".join(out))
    return ".".join(parts)


def _rdata(msg: bytes, rtype: int, start: int, end: int) -> Any:
    """The value of one record, as the resolver hands it on."""
    size = end - start
    if rtype == 1:
        if size != 4:
            raise WireError("A record is not 4 octets")
        return socket.inet_ntop(socket.AF_INET, msg[start:end])
    if rtype == 28:
        if size != 16:
            raise WireError("AAAA record is not 16 octets")
        return socket.inet_ntop(socket.AF_INET6, msg[start:end])
    if rtype == CNAME:
        labels, after = _read_name(msg, start)
        if after != end:
            raise WireError("CNAME RDATA length mismatch")
        return labels
    if rtype == 15:
        if size < 3:
            raise WireError("MX record too short")
        labels, after = _read_name(msg, start + 2)
        if after != end:
            raise WireError("MX RDATA length mismatch")
        return ((msg[start] << 8) | msg[start + 1], name_text(labels))
    if rtype == 16:
        strings = []
        offset = start
        while offset < end:
            length = msg[offset]
            if offset + 1 + length > end:
                raise WireError("TXT character-string runs past its record")
            strings.append(msg[offset + 1 : offset + 1 + length])
            offset += 1 + length
        if not strings:
            raise WireError("empty TXT record")
        return tuple(strings)
    if rtype == 52:
        if size < 3:
            raise WireError("TLSA record too short")
        return (msg[start], msg[start + 1], msg[start + 2], msg[start + 3 : end])
    return msg[start:end]


@dataclass(frozen=True, slots=True)
class Response:
    """The part of a response the checker uses."""

    rcode: int  # extended with the OPT record's upper bits (RFC 6891 §6.1.3)
    flags: int
    records: tuple[Any, ...]  # of the asked type, at the end of the CNAME chain
    found: bool  # an RRset of the asked type was there (it may not be empty)
    cnames: tuple[str, ...]  # the CNAME targets followed, in order

    @property
    def truncated(self) -> bool:
        return bool(self.flags & TC)

    @property
    def authenticated(self) -> bool:
        return bool(self.flags & AD)


def response_id(msg: bytes) -> int | None:
    """The ID of a reply, or None when these bytes cannot be one."""
    if len(msg) < 12 or not msg[2] & 0x80:
        return None
    return (msg[0] << 8) | msg[1]


def parse_response(msg: bytes, qname: bytes, qtype: int) -> Response | None:
    """Read a response to (qname, qtype); None when it answers another question.

    Raises WireError for a malformed message.
    """
    if len(msg) < 12:
        raise WireError("shorter than a DNS header")
    _, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(msg)
    offset = 12
    rcode = flags & 0x000F
    if qdcount != 1:
        if qdcount == 0 and rcode not in (NOERROR, NXDOMAIN):
            return Response(rcode, flags, (), False, ())  # an error without the question
        return None
    asked = _labels(qname)
    end = offset + len(qname)
    if msg[offset:end].lower() == qname.lower():  # as sent, up to case (0x20)
        labels, offset = asked, end
    else:
        labels, offset = _read_name(msg, offset)
    if offset + 4 > len(msg):
        raise WireError("truncated question")
    rtype, rclass = struct.unpack_from("!HH", msg, offset)
    offset += 4
    if labels != asked or rtype != qtype or rclass != CLASS_IN:
        return None
    answer: list[tuple[tuple[bytes, ...], int, Any]] = []
    for index in range(ancount + nscount + arcount):
        in_answer = index < ancount
        if in_answer:
            owner, offset = _read_name(msg, offset)
        else:
            offset = _skip_name(msg, offset)
        if offset + 10 > len(msg):
            raise WireError("truncated resource record")
        rtype, rclass, ttl, rdlength = _RR.unpack_from(msg, offset)
        offset += 10
        end = offset + rdlength
        if end > len(msg):
            raise WireError("RDATA runs past the end of the message")
        if in_answer:
            if rclass == CLASS_IN and rtype in (qtype, CNAME):
                answer.append((owner, rtype, _rdata(msg, rtype, offset, end)))
        elif index >= ancount + nscount and rtype == OPT:
            rcode |= (ttl >> 24) << 4
        offset = end
    records, found, cnames = _follow(answer, asked, qtype)
    return Response(rcode, flags, records, found, cnames)


def _labels(wire: bytes) -> tuple[bytes, ...]:
    """Lower-cased labels of a name this module encoded (no compression)."""
    labels = []
    i = 0
    while wire[i]:
        labels.append(wire[i + 1 : i + 1 + wire[i]].lower())
        i += wire[i] + 1
    return tuple(labels)


def _follow(
    answer: list[tuple[tuple[bytes, ...], int, Any]], name: tuple[bytes, ...], qtype: int
) -> tuple[tuple[Any, ...], bool, tuple[str, ...]]:
    """The RRset of `qtype` at the end of the CNAME chain from `name` (RFC 1034 §4.3.2)."""
    cnames: list[str] = []
    for _ in range(MAX_CHAIN + 1):
        records = tuple(value for owner, rtype, value in answer if owner == name and rtype == qtype)
        if records:  # duplicates collapse, as in an RRset (RFC 2181 §5)
            return tuple(dict.fromkeys(records)), True, tuple(cnames)
        target = next(
            (value for owner, rtype, value in answer if owner == name and rtype == CNAME), None
        )
        if target is None:
            return (), False, tuple(cnames)
        cnames.append(name_text(target))
        name = target
    raise WireError(f"CNAME chain longer than {MAX_CHAIN}")
