"""Reverse DNS names of sending IPs, against a real authoritative DNS server
on loopback (tests/check/checklab): a page shows the IP at once and its
PTR name once the background lookup has it; each address is looked up
once while its name (or its absence) is kept; the cache is bounded; text
that is not an IP address is never looked up; a server that answers late
does not hold a page up."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.name
import dns.rdatatype
import dns.zone
import pytest
from fastapi.testclient import TestClient

from tlsrpt.settings import Settings
from tlsrpt.web.app import create_app
from tlsrpt.web.dashboard.rdns import ReverseNames

from .conftest import ADMIN, Site, login

_CHECK_TESTS = str(Path(__file__).parents[2] / "check")
if _CHECK_TESTS not in sys.path:
    sys.path.append(_CHECK_TESTS)

from checklab.dns_server import AuthoritativeServer  # noqa: E402

ZONE = """\
$ORIGIN 113.0.203.in-addr.arpa.
@ 300 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 300
@ 300 IN NS ns.example.
11 300 IN PTR mx1-out.sender.example.
12 300 IN PTR mx2-out.sender.example.
"""
# The demo's Google sending IPs (tlsrpt.demo).
SENDERS = """\
$ORIGIN 220.85.209.in-addr.arpa.
@ 300 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 300
@ 300 IN NS ns.example.
41 300 IN PTR mail-sor-f41.google.example.
69 300 IN PTR mail-sor-f69.google.example.
"""


class Loop:
    """An asyncio loop in a thread (the DNS server's, or the app's stand-in)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def ptr_server() -> Iterator[tuple[AuthoritativeServer, int]]:
    server = AuthoritativeServer()
    server.add_zone(dns.zone.from_text(ZONE, relativize=False))
    server.add_zone(dns.zone.from_text(SENDERS, relativize=False))
    loop = Loop()
    port = loop.run(server.start("127.0.0.1", 0))
    yield server, port
    loop.run(server.stop())
    loop.close()


def _queries(server: AuthoritativeServer, address: str) -> int:
    name = dns.name.from_text(".".join(reversed(address.split("."))) + ".in-addr.arpa.")
    return sum(n for (q, t), n in server.queries.items() if q == str(name) or q == name)


def _eventually(check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("never happened")


@pytest.fixture
def names(ptr_server: tuple[AuthoritativeServer, int]) -> Iterator[ReverseNames]:
    loop = Loop()
    found = ReverseNames(["127.0.0.1"], ptr_server[1], size=2)
    found.bind(loop.loop)
    yield found
    loop.close()


def test_names_are_looked_up_once_and_kept(
    names: ReverseNames, ptr_server: tuple[AuthoritativeServer, int]
) -> None:
    server = ptr_server[0]
    before = _queries(server, "203.0.113.11")
    assert names.names(["203.0.113.11"]) == {}  # not known yet: the IP alone
    found = _eventually(lambda: names.names(["203.0.113.11"]))
    assert found == {"203.0.113.11": "mx1-out.sender.example"}
    for _ in range(5):
        names.names(["203.0.113.11"])
    assert _queries(server, "203.0.113.11") - before == 1
    # no PTR: the absence is kept too
    _eventually(lambda: names.names(["203.0.113.99"]) == {} and _queries(server, "203.0.113.99"))
    asked = _queries(server, "203.0.113.99")
    time.sleep(0.2)
    names.names(["203.0.113.99"])
    time.sleep(0.2)
    assert _queries(server, "203.0.113.99") == asked


def test_the_cache_is_bounded_and_only_addresses_are_looked_up(
    names: ReverseNames, ptr_server: tuple[AuthoritativeServer, int]
) -> None:
    server = ptr_server[0]
    _eventually(lambda: names.names(["203.0.113.11"]))
    _eventually(lambda: names.names(["203.0.113.12"]))
    _eventually(lambda: names.names(["203.0.113.13"]) == {} and _queries(server, "203.0.113.13"))
    time.sleep(0.3)  # its (empty) answer is kept
    before = _queries(server, "203.0.113.11")
    # size 2: the oldest, .11, was dropped and is looked up again
    _eventually(lambda: names.names(["203.0.113.11"]))
    assert _queries(server, "203.0.113.11") == before + 1
    total = sum(server.queries.values())
    hostile = ["<script>", "203.0.113.11; rm -rf", "mx.example", "", None]
    assert names.names(hostile) == {}
    time.sleep(0.2)
    assert sum(server.queries.values()) == total


def test_a_late_server_does_not_hold_a_page(
    site: Site, ptr_server: tuple[AuthoritativeServer, int]
) -> None:
    server, port = ptr_server
    server.latency = 1.0
    settings = Settings(dns_nameservers=("127.0.0.1",), dns_port=port)
    try:
        with TestClient(create_app(settings, site.store)) as client:
            login(client, ADMIN)
            first = client.get("/domains/shop.example.net", params={"days": 60})
            assert first.status_code == 200
            assert "<code>209.85.220.41</code>" in first.text
            assert "mail-sor-f41" not in first.text  # not waited for

            def named() -> str | None:
                text = client.get("/domains/shop.example.net", params={"days": 60}).text
                return text if "mail-sor-f41" in text else None

            page = _eventually(named)
    finally:
        server.latency = 0.0
    assert (
        '<code>209.85.220.41</code><br><small class="ptr" data-field="ptr">'
        "mail-sor-f41.google.example</small>" in page
    )


def test_reverse_dns_can_be_turned_off(site: Site) -> None:
    with TestClient(create_app(Settings(reverse_dns=False), site.store)) as client:
        assert client.app.state.reverse_names.names(["203.0.113.12"]) == {}
