"""Addresses the checker refuses, end to end in the lab: a site-local
address behind the MX, the policy host and an https rua host, and IP
literals written where host names belong (MX targets, https rua URIs).

Refusal must happen before any connection. A Python audit hook records
every `socket.connect` of the process; the checker runs on the standard
asyncio loop here (uvloop connects in C, out of the hook's sight), and a
control run shows the hook does see the checker's own connections.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from checklab.lab import Lab
from checklab.scenarios import PRIVATE, SITE_LOCAL
from checklab.zones import Addr

from conftest import TIMEOUT, run_check
from tlsrpt.check import CheckOptions, DomainReport, evaluate
from tlsrpt.check.gather import Gatherer
from tlsrpt.check.resolver import Resolver
from tlsrpt.check.trust import Trust

_connects: list[str] | None = None
_hooked = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and _connects is not None:
        address = args[1]
        if isinstance(address, tuple) and address:
            _connects.append(str(address[0]))


@pytest.fixture
def connects() -> Iterator[list[str]]:
    """The host part of every socket.connect while the test runs."""
    global _connects, _hooked
    if not _hooked:
        sys.addaudithook(_audit)  # audit hooks cannot be removed: installed once
        _hooked = True
    _connects = []
    try:
        yield _connects
    finally:
        _connects = None


def _gather(lab: Lab, domain: str, allow_private: bool) -> DomainReport:
    options = CheckOptions(
        nameservers=(lab.nameserver,),
        timeout=float(TIMEOUT),
        allow_private=allow_private,
        smtp_port=lab.smtp_port,
        https_port=lab.https_port,
        ca_file=str(lab.pki.ca_file),
        helo="probe.lab.test",
    )
    trust = Trust.load(options.ca_file)

    async def go() -> DomainReport:
        gatherer = Gatherer(options, Resolver(options.nameservers, options.timeout), trust)
        try:
            facts = await gatherer.gather(domain)
        finally:
            await gatherer.aclose()
        return evaluate(facts, trust.store, dt.datetime.now(dt.UTC))

    return asyncio.run(go())


def _refusals(report: DomainReport) -> list[str]:
    return [f.message for f in report.findings if f.code == "address-refused"]


def test_site_local_names_refused_before_connecting(lab: Lab, connects: list[str]) -> None:
    """MX host, policy host and https rua host resolve to fec0::1: each is
    refused, naming the block, and nothing connects there."""
    report = _gather(lab, "ssrf-names.lab.test", allow_private=False)
    assert {(f.code, f.severity.value) for f in report.findings} == {("address-refused", "warning")}
    messages = _refusals(report)
    assert len(messages) == 3
    for host in ("mx.ssrf-names", "mta-sts.ssrf-names", "reports.ssrf-names"):
        (message,) = [m for m in messages if host in m]
        assert "fec0::1 is in fec0::/10 site-local (RFC 3879)" in message
    (mx,) = report.mx
    assert mx["probes"] == []  # no address was probed
    assert report.mta_sts["policy"]["failure"] == "refused"
    assert not any(ip.startswith("fec0") for ip in connects), connects
    # The hook saw this run's own sockets: the DNS queries to the lab resolver.
    assert lab.nameserver.rsplit(":", 1)[0] in connects


def test_hook_sees_the_checker_connect(lab: Lab, connects: list[str]) -> None:
    """Control: with the opt-in, the same path connects to the lab servers,
    and the hook records it."""
    report = _gather(lab, "clean.lab.test", allow_private=True)
    assert report.findings == ()
    assert Addr.HTTPS in connects and Addr.SMTP in connects


def test_ip_literals_refused_not_looked_up(lab: Lab, connects: list[str]) -> None:
    """MX targets fec0::1 and 10.0.0.1 and rua https://[fec0::1]/x and
    https://10.0.0.1/ are addresses refused: no DNS lookup of them (it is not
    a DNS problem), no TLSA lookup, no connection."""
    report = _gather(lab, "ssrf-literal.lab.test", allow_private=False)
    codes = sorted((f.code, f.severity.value) for f in report.findings)
    assert codes == [("address-refused", "warning")] * 4 + [("sts-record-missing", "warning")]
    messages = _refusals(report)
    assert any(
        m.startswith(f"MX {SITE_LOCAL} is an IP address, not a host name")
        and "fec0::/10 site-local (RFC 3879)" in m
        for m in messages
    ), messages
    assert any(
        m.startswith(f"MX {PRIVATE} is an IP address") and "10.0.0.0/8" in m for m in messages
    )
    assert any(
        m.startswith(f"rua https://[{SITE_LOCAL}]/x names an IP address") and "fec0::/10" in m
        for m in messages
    ), messages
    assert any(f"rua https://{PRIVATE}/ names an IP address" in m for m in messages)
    looked_up = {name for name, _ in lab.dns.queries}
    for literal in (SITE_LOCAL, PRIVATE):
        assert not any(literal in name for name in looked_up), looked_up
    assert not any(ip.startswith("fec0") or ip == PRIVATE for ip in connects), connects
    for section in report.mx:
        assert section["probes"] is None and section["tlsa"] is None
    assert [r["ok"] for r in report.tlsrpt["rua"]] == [None, None]


def test_cli_reports_refusals_and_exits_zero(lab: Lab) -> None:
    """The same through `tlsrpt check` (uvloop), without the opt-in."""
    smtp = sum(server.connections for server in lab.smtp.values())
    run = run_check(
        *lab.cli_args(allow_private=False),
        "--timeout",
        TIMEOUT,
        "--json",
        "ssrf-names.lab.test",
        "ssrf-literal.lab.test",
    )
    reports = run.reports()
    for domain in ("ssrf-names.lab.test", "ssrf-literal.lab.test"):
        findings = reports[domain]["findings"]
        refused = [f for f in findings if f["code"] == "address-refused"]
        assert len(refused) in (3, 4)
        assert all("(RFC" in f["message"] for f in refused)
        assert not {f["code"] for f in findings} & {"dns-lookup-failed", "tlsrpt-rua-invalid"}
    assert sum(server.connections for server in lab.smtp.values()) == smtp
    assert run.status == 0
