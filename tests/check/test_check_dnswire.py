"""The checker's DNS wire format reader and writer, against dnspython's
(an independent implementation) and against malformed input."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlsrpt.check.dnswire import (
    AD,
    CD,
    RD,
    TYPES,
    WireError,
    build_query,
    encode_name,
    name_text,
    parse_response,
    response_id,
)


def reply(qname: str, qtype: str, *answer: tuple[str, str, str], **kw: object) -> bytes:
    """A response made by dnspython, compressed as servers do."""
    query = dns.message.make_query(qname, qtype)
    response = dns.message.make_response(query)
    for owner, rdtype, text in answer:
        response.answer.append(dns.rrset.from_text(owner, 60, "IN", rdtype, text))
    if kw.get("rcode") is not None:
        response.set_rcode(kw["rcode"])  # type: ignore[arg-type]
    if kw.get("ad"):
        response.flags |= dns.flags.AD
    if kw.get("edns"):
        response.use_edns(0)
    return response.to_wire()


def parse(wire: bytes, qname: str, qtype: str) -> object:
    return parse_response(wire, encode_name(qname), TYPES[qtype])


def test_query_is_what_dnspython_reads() -> None:
    wire = build_query(0x1234, encode_name("_smtp._tls.Example.COM"), TYPES["TXT"], RD | AD, 1232)
    message = dns.message.from_wire(wire)
    assert message.id == 0x1234
    assert message.question[0].name == dns.name.from_text("_smtp._tls.example.com")
    assert message.question[0].rdtype == 16
    assert message.flags & dns.flags.RD and message.flags & dns.flags.AD
    assert not message.flags & dns.flags.CD
    assert message.edns == 0 and message.payload == 1232
    assert dns.message.from_wire(build_query(1, encode_name("a.b"), 1, RD | CD, 512)).flags & (
        dns.flags.CD
    )


def test_answers_of_each_type() -> None:
    txt = parse(
        reply("_x.a.test", "TXT", ("_x.a.test.", "TXT", '"v=1; " "two"')), "_x.a.test", "TXT"
    )
    assert txt.records == ((b"v=1; ", b"two"),)  # type: ignore[attr-defined]
    mx = parse(
        reply(
            "a.test", "MX", ("a.test.", "MX", "10 MX1.a.test."), ("a.test.", "MX", "20 mx2.a.test.")
        ),
        "a.test",
        "MX",
    )
    assert mx.records == ((10, "mx1.a.test"), (20, "mx2.a.test"))  # type: ignore[attr-defined]
    null = parse(reply("n.test", "MX", ("n.test.", "MX", "0 .")), "n.test", "MX")
    assert null.records == ((0, "."),)  # type: ignore[attr-defined]
    a = parse(reply("h.test", "A", ("h.test.", "A", "192.0.2.1")), "h.test", "A")
    assert a.records == ("192.0.2.1",)  # type: ignore[attr-defined]
    aaaa = parse(
        reply("h.test", "AAAA", ("h.test.", "AAAA", "2001:db8:0:0:1::1")), "h.test", "AAAA"
    )
    assert aaaa.records == ("2001:db8::1:0:0:1",)  # type: ignore[attr-defined]  # RFC 5952
    tlsa = parse(
        reply("_25._tcp.h.test", "TLSA", ("_25._tcp.h.test.", "TLSA", "3 1 1 " + "ab" * 32)),
        "_25._tcp.h.test",
        "TLSA",
    )
    assert tlsa.records == ((3, 1, 1, b"\xab" * 32),)  # type: ignore[attr-defined]


def test_cname_chain_is_followed() -> None:
    """RFC 1034 §3.6.2: the answer is at the end of the chain; the chain is kept."""
    wire = reply(
        "mx.a.test",
        "A",
        ("mx.a.test.", "CNAME", "Mail.b.test."),
        ("mail.b.test.", "CNAME", "smtp.c.test."),
        ("smtp.c.test.", "A", "192.0.2.7"),
        ("other.test.", "A", "192.0.2.9"),
        ad=True,
    )
    response = parse(wire, "MX.a.test", "A")
    assert response.records == ("192.0.2.7",)  # type: ignore[attr-defined]
    assert response.cnames == ("mail.b.test", "smtp.c.test")  # type: ignore[attr-defined]
    assert response.authenticated and response.found  # type: ignore[attr-defined]


def test_nodata_nxdomain_and_extended_rcode() -> None:
    nodata = parse(reply("a.test", "MX"), "a.test", "MX")
    assert not nodata.found and nodata.rcode == 0  # type: ignore[attr-defined]
    nx = parse(reply("a.test", "MX", rcode=dns.rcode.NXDOMAIN), "a.test", "MX")
    assert nx.rcode == 3  # type: ignore[attr-defined]
    badvers = dns.message.make_response(dns.message.make_query("a.test", "MX"))
    badvers.use_edns(0)
    badvers.set_rcode(dns.rcode.BADVERS)  # 16: needs the OPT record's upper bits
    assert parse(badvers.to_wire(), "a.test", "MX").rcode == 16  # type: ignore[attr-defined]


def test_reply_to_another_question_is_not_an_answer() -> None:
    wire = reply("b.test", "MX", ("b.test.", "MX", "10 mx.b.test."))
    assert parse(wire, "a.test", "MX") is None
    assert parse(wire, "b.test", "TXT") is None
    assert response_id(wire) == dns.message.from_wire(wire).id
    query = build_query(7, encode_name("a.test"), 1, RD, 1232)
    assert response_id(query) is None  # QR clear: not a reply


def test_name_presentation_escapes() -> None:
    """RFC 1035 §5.1, as dnspython writes it."""
    for text in ("a\\.b\\032c.example", "\\195\\169.test", 'q\\"x.test', "plain-name.test"):
        labels = tuple(label.lower() for label in dns.name.from_text(text).labels if label)
        assert name_text(labels) == dns.name.from_text(text).to_text(omit_final_dot=True).lower()
    assert name_text(()) == "."


@pytest.mark.parametrize(
    "name", ["a..b", "x" * 64 + ".test", ".".join(["abcdefghi"] * 30), "a.b.\\256"]
)
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(WireError):
        encode_name(name)


def test_names_encode_as_dnspython_does() -> None:
    for name in ("example.com", "example.com.", "Mx.Example.COM", "a\\.b.test", "bücher.test", "."):
        assert encode_name(name) == dns.name.from_text(name).to_wire()


def _corrupt(wire: bytes, at: int, value: bytes) -> bytes:
    return wire[:at] + value + wire[at + len(value) :]


def test_malformed_responses_raise_wire_error() -> None:
    good = reply("a.test", "MX", ("a.test.", "MX", "10 mx.a.test."))
    question_end = 12 + len(encode_name("a.test")) + 4
    cases = [
        good[:11],  # no full header
        good[:-3],  # RDATA cut short
        _corrupt(good, question_end, b"\xc0\x40"),  # pointer forwards
        _corrupt(good, question_end, b"\xc0" + bytes([question_end])),  # pointer to itself
        _corrupt(good, question_end, b"\x7f"),  # label type 01
    ]
    for wire in cases:
        with pytest.raises(WireError):
            parse(wire, "a.test", "MX")


@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise_anything_else(data: bytes) -> None:
    wire = reply("a.test", "TXT", ("a.test.", "TXT", '"x"'))
    for candidate in (data, wire[:12] + data, wire[: len(wire) // 2] + data):
        try:
            parse(candidate, "a.test", "TXT")
        except WireError:
            pass
