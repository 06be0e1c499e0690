"""An authoritative DNS server over real UDP and TCP, built with dnspython.

Serves absolute-name zones, follows CNAMEs across its zones, answers NODATA
and NXDOMAIN with the SOA, and for DNSSEC-signed zones (when the query sets
DO) adds the RRSIGs and the NSEC records that prove a denial, so a
validating resolver (Unbound) in front of it can validate. A configurable
latency is added before every answer.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import struct
from collections import Counter

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

IN = dns.rdataclass.IN
RRSIG = dns.rdatatype.RRSIG
NSEC = dns.rdatatype.NSEC


class ZoneIndex:
    """A zone plus its names in DNSSEC canonical order (for NSEC lookups)."""

    def __init__(self, zone: dns.zone.Zone, signed: bool) -> None:
        self.zone = zone
        self.signed = signed
        self.names = sorted(zone.nodes.keys())

    def exists(self, name: dns.name.Name) -> bool:
        """The name owns records or is an empty non-terminal."""
        if name in self.zone.nodes:
            return True
        index = bisect.bisect_right(self.names, name)
        return index < len(self.names) and self.names[index].is_subdomain(name)

    def covering(self, name: dns.name.Name) -> dns.name.Name:
        """The owner of the NSEC record whose span covers `name`."""
        index = bisect.bisect_right(self.names, name) - 1
        return self.names[max(index, 0)]

    def closest_encloser(self, name: dns.name.Name) -> dns.name.Name:
        while not self.exists(name) and name != self.zone.origin:
            name = name.parent()
        return name


class AuthoritativeServer:
    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.zones: dict[dns.name.Name, ZoneIndex] = {}
        self.queries: Counter[tuple[str, str]] = Counter()
        self.servfail: set[tuple[dns.name.Name, int]] = set()  # a broken server for these
        self._transports: list[asyncio.BaseTransport] = []
        self._servers: list[asyncio.Server] = []

    def add_zone(self, zone: dns.zone.Zone, signed: bool = False) -> None:
        self.zones[zone.origin] = ZoneIndex(zone, signed)

    def find_zone(self, name: dns.name.Name) -> ZoneIndex | None:
        while True:
            if name in self.zones:
                return self.zones[name]
            if name == dns.name.root:
                return None
            name = name.parent()

    # --- answering -------------------------------------------------------

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        self.queries[(question.name.to_text(), dns.rdatatype.to_text(question.rdtype))] += 1
        dnssec = bool(query.ednsflags & dns.flags.DO)
        if dnssec:
            response.want_dnssec(True)
        index = self.find_zone(question.name)
        if (question.name, question.rdtype) in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        if index is None:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        name = question.name
        for _ in range(8):
            node = index.zone.get_node(name)
            if node is not None:
                rdataset = node.get_rdataset(IN, question.rdtype)
                if rdataset is not None:
                    self._add(response.answer, index, name, rdataset.rdtype, dnssec)
                    return response
                cname = node.get_rdataset(IN, dns.rdatatype.CNAME)
                if cname is not None and question.rdtype != dns.rdatatype.CNAME:
                    self._add(response.answer, index, name, dns.rdatatype.CNAME, dnssec)
                    name = cname[0].target
                    target = self.find_zone(name)
                    if target is None:
                        return response
                    index = target
                    continue
                self._deny(response, index, name, dnssec, nodata_at=name)
                return response
            if index.exists(name):  # empty non-terminal: NODATA
                self._deny(response, index, name, dnssec, nodata_at=None)
                return response
            response.set_rcode(dns.rcode.NXDOMAIN)
            self._deny(response, index, name, dnssec, nodata_at=None)
            return response
        response.set_rcode(dns.rcode.SERVFAIL)
        return response

    def _add(
        self,
        section: list[dns.rrset.RRset],
        index: ZoneIndex,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        dnssec: bool,
    ) -> None:
        node = index.zone.get_node(name)
        assert node is not None
        rdataset = node.get_rdataset(IN, rdtype)
        if rdataset is None:
            return
        rrset = dns.rrset.RRset(name, IN, rdtype)
        rrset.update(rdataset)
        if rrset not in section:
            section.append(rrset)
        if dnssec and index.signed:
            sigs = node.get_rdataset(IN, RRSIG, covers=rdtype)
            if sigs is not None:
                sig_rrset = dns.rrset.RRset(name, IN, RRSIG, covers=rdtype)
                sig_rrset.update(sigs)
                if sig_rrset not in section:
                    section.append(sig_rrset)

    def _deny(
        self,
        response: dns.message.Message,
        index: ZoneIndex,
        name: dns.name.Name,
        dnssec: bool,
        nodata_at: dns.name.Name | None,
    ) -> None:
        origin = index.zone.origin
        self._add(response.authority, index, origin, dns.rdatatype.SOA, dnssec)
        if not (dnssec and index.signed):
            return
        if nodata_at is not None:
            self._add(response.authority, index, nodata_at, NSEC, dnssec)
            return
        # RFC 4035 §3.1.3.2: the NSEC covering the name, and the one covering
        # the wildcard at the closest encloser.
        self._add(response.authority, index, index.covering(name), NSEC, dnssec)
        encloser = index.closest_encloser(name)
        wildcard = dns.name.Name((b"*", *encloser.labels))
        self._add(response.authority, index, index.covering(wildcard), NSEC, dnssec)

    # --- transport -------------------------------------------------------

    async def _respond(self, wire: bytes, udp: bool) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        response = self.answer(query)
        if self.latency:
            await asyncio.sleep(self.latency)
        if not udp:  # TCP: the EDNS buffer size does not apply (RFC 7766)
            return response.to_wire(max_size=65535)
        limit = max(512, min(query.payload, 4096)) if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC | dns.flags.AA
            return truncated.to_wire()

    async def start(self, host: str, port: int) -> int:
        """Listen on UDP and TCP `host:port` (port 0: pick one); returns the port."""
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(self._tcp_client, host, port)
        self._servers.append(server)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(host, port)
        )
        self._transports.append(transport)
        return port

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                wire = await reader.readexactly(length)
                reply = await self._respond(wire, udp=False)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        writer.close()

    async def stop(self) -> None:
        for transport in self._transports:
            transport.close()
        for server in self._servers:
            server.close()
            await server.wait_closed()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: AuthoritativeServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.ensure_future(self._reply(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.server._respond(data, udp=True)
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)
