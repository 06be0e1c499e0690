"""The stub resolver's exchanges with a scripted server on loopback: replies
to other questions are ignored (RFC 5452 §9.1), truncation moves to TCP
(RFC 7766 §5), a malformed reply or an error rcode moves to the next
server, and nothing hangs past the lookup's lifetime."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from tlsrpt.check.resolver import DnsAnswer, DnsStatus, Resolver

# script(query) -> the datagrams to send back, in order
Script = Callable[[dns.message.Message], list[bytes]]


def answer_a(query: dns.message.Message, address: str = "192.0.2.1", **kw: object) -> bytes:
    response = dns.message.make_response(query)
    name = query.question[0].name
    response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", address))
    if kw.get("ad"):
        response.flags |= dns.flags.AD
    if kw.get("rcode") is not None:
        response.answer.clear()
        response.set_rcode(kw["rcode"])  # type: ignore[arg-type]
    return response.to_wire()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, script: Script) -> None:
        self.script = script
        self.queries: list[dns.message.Message] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        self.queries.append(query)
        for reply in self.script(query):
            self.transport.sendto(reply, addr)  # type: ignore[attr-defined]


async def _tcp_server(script: Script, host: str, port: int) -> asyncio.Server:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        query = dns.message.from_wire(await reader.readexactly(length))
        for reply in script(query):
            writer.write(struct.pack("!H", len(reply)) + reply)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, host, port)


def lookup(
    udp: Script, tcp: Script | None = None, host: str = "127.0.0.1", timeout: float = 2.0
) -> tuple[DnsAnswer, list[dns.message.Message]]:
    async def go() -> tuple[DnsAnswer, list[dns.message.Message]]:
        loop = asyncio.get_running_loop()
        protocol = _Udp(udp)
        # TCP first, on a port the kernel picks: a TCP port taken by one of the
        # many client connections of other tests is the likelier clash.
        server = await _tcp_server(tcp, host, 0) if tcp else None
        port = server.sockets[0].getsockname()[1] if server else 0
        transport, _ = await loop.create_datagram_endpoint(
            lambda: protocol, local_addr=(host, port)
        )
        port = transport.get_extra_info("sockname")[1]
        try:
            spec = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            result = await Resolver([spec], timeout=timeout).query("mx.example.test", "A")
        finally:
            transport.close()
            if server:
                server.close()
        return result, protocol.queries

    return asyncio.run(go())


def test_answer_and_the_query_sent() -> None:
    result, queries = lookup(lambda q: [answer_a(q, ad=True)])
    assert (result.status, result.records, result.secure) == (DnsStatus.OK, ("192.0.2.1",), True)
    (query,) = queries
    assert query.flags & dns.flags.RD and query.flags & dns.flags.AD  # RFC 6840 §5.7
    assert query.edns == 0 and query.payload == 1232


def test_replies_to_other_questions_are_ignored() -> None:
    """A reply with another ID, or for another name, is not the answer (RFC 5452 §9.1)."""

    def script(query: dns.message.Message) -> list[bytes]:
        wrong_id = dns.message.from_wire(answer_a(query, "198.51.100.66"))
        wrong_id.id ^= 0x5A5A
        other = dns.message.make_query("evil.example.test", "A")
        other.id = query.id
        return [wrong_id.to_wire(), answer_a(other, "198.51.100.66"), answer_a(query)]

    result, _ = lookup(script)
    assert result.records == ("192.0.2.1",)


def test_truncated_reply_is_asked_again_over_tcp() -> None:
    def truncated(query: dns.message.Message) -> list[bytes]:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.TC
        return [response.to_wire()]

    result, _ = lookup(truncated, tcp=lambda q: [answer_a(q, "192.0.2.53")])
    assert result.records == ("192.0.2.53",)


@pytest.mark.parametrize(
    "reply",
    [
        lambda q: [answer_a(q)[:-2]],  # cut short
        lambda q: [answer_a(q, rcode=dns.rcode.REFUSED)],
    ],
    ids=["malformed", "refused"],
)
def test_failures_are_servfail_with_the_reason(reply: Script) -> None:
    result, _ = lookup(reply)
    assert result.status == DnsStatus.SERVFAIL and result.failed
    assert result.error and "127.0.0.1@" in result.error


def test_silence_times_out_within_the_lifetime() -> None:
    result, queries = lookup(lambda q: [], timeout=0.6)
    assert result.status == DnsStatus.TIMEOUT
    assert queries  # it asked


def test_ipv6_nameserver() -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    result, _ = lookup(lambda q: [answer_a(q)], host="::1")
    assert result.records == ("192.0.2.1",)
