"""`tlsrpt check` as a user runs it: safety, budget, input, output, exit status."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from checklab.lab import Lab
from checklab.zones import Addr

from conftest import TIMEOUT, run_check
from tlsrpt.check.net import resolve_vetted, tls_connect
from tlsrpt.check.policy_fetch import fetch_policy
from tlsrpt.check.resolver import Resolver
from tlsrpt.check.safety import AddressPolicy
from tlsrpt.check.trust import Trust


def test_refuses_private_addresses_by_default(lab: Lab) -> None:
    """Safety: without --allow-private-addresses nothing in the lab
    (all loopback) is contacted; DNS still answers."""
    requests = sum(lab.https.requests.values())
    handshakes = sum(lab.https.handshakes.values())
    smtp = sum(server.connections for server in lab.smtp.values())
    run = run_check(
        *lab.cli_args(allow_private=False), "--timeout", TIMEOUT, "--json", "clean.lab.test"
    )
    report = run.reports()["clean.lab.test"]
    refused = [f for f in report["findings"] if f["code"] == "address-refused"]
    assert {f["severity"] for f in refused} == {"warning"}
    messages = " ".join(f["message"] for f in refused)
    for host in ("mta-sts.clean.lab.test", "mx.clean.lab.test", "reports.clean.lab.test"):
        assert host in messages
    assert "127.77.0.10 is in 127.0.0.0/8 loopback (RFC 1122 §3.2.1.3)" in messages
    assert "::1 is in ::1/128 loopback (RFC 4291 §2.5.3)" in messages
    assert sum(lab.https.requests.values()) == requests
    assert sum(lab.https.handshakes.values()) == handshakes
    assert sum(server.connections for server in lab.smtp.values()) == smtp
    assert run.status == 0  # refusals are warnings


class _OnlyPolicyServer(AddressPolicy):
    """Admits only the lab's HTTPS server address."""

    def refusal(self, address: str) -> str | None:
        return None if address == Addr.HTTPS else f"{address} is not the vetted server"


def test_connects_to_the_vetted_address_not_a_new_lookup(lab: Lab) -> None:
    """DNS rebinding: the name is resolved once per connection and the
    connection goes to the address that was vetted. The lab name answers
    with an allowed and a refused address; only the allowed one is used, and
    the policy host is looked up exactly once per fetch."""
    lab.zones.add_addresses("mta-sts.rebind.lab.test", (Addr.HTTPS_CLOSED, Addr.HTTPS))
    lab.dns.add_zone(
        lab.zones.zones[next(z for z in lab.zones.zones if z.to_text() == "lab.test.")]
    )
    lab.https.serve("mta-sts.rebind.lab.test", None)
    before = dict(lab.dns.queries)
    trust = Trust.load(str(lab.pki.ca_file))
    resolver = Resolver([f"{Addr.DNS}:{lab.dns_port}"], timeout=2)

    async def fetch() -> object:
        return await fetch_policy(
            resolver, _OnlyPolicyServer(), trust.webpki, "rebind.lab.test", lab.https_port, 2
        )

    result = asyncio.run(fetch())
    assert result.resolution.refused == (  # type: ignore[attr-defined]
        (Addr.HTTPS_CLOSED, f"{Addr.HTTPS_CLOSED} is not the vetted server"),
    )
    assert result.status == 404  # type: ignore[attr-defined]  # reached the server
    assert lab.https.requests["mta-sts.rebind.lab.test"] == 1
    key = ("mta-sts.rebind.lab.test.", "A")
    assert lab.dns.queries[key] - before.get(key, 0) == 1


def test_tls_connect_reports_refusal_without_connecting(lab: Lab) -> None:
    resolver = Resolver([f"{Addr.DNS}:{lab.dns_port}"], timeout=2)
    trust = Trust.load(str(lab.pki.ca_file))
    handshakes = sum(lab.https.handshakes.values())

    async def go() -> object:
        resolution = await resolve_vetted(resolver, "reports.clean.lab.test", AddressPolicy())
        assert resolution.allowed == ()
        return await tls_connect(
            resolver, AddressPolicy(), trust.webpki, "reports.clean.lab.test", lab.https_port, 2
        )

    result = asyncio.run(go())
    assert result.address is None and "loopback" in (result.error or "")  # type: ignore[attr-defined]
    assert sum(lab.https.handshakes.values()) == handshakes


def test_next_nameserver_after_a_dead_one(lab: Lab) -> None:
    args = lab.cli_args(nameserver=f"{Addr.SMTP_CLOSED}:{lab.dns_port}")
    args += ["--nameserver", lab.nameserver]
    run = run_check(*args, "--timeout", TIMEOUT, "--json", "clean.lab.test")
    assert run.reports()["clean.lab.test"]["findings"] == []


def test_time_budget(lab: Lab) -> None:
    run = run_check(
        *lab.cli_args(), "--timeout", "10", "--budget", "0.5", "--json", "policy-slow.lab.test"
    )
    report = run.reports()["policy-slow.lab.test"]
    assert not report["complete"]
    codes = {(f["code"], f["severity"]) for f in report["findings"]}
    assert ("check-timeout", "warning") in codes
    assert report["elapsed"] < 3


def test_no_mx_probe(lab: Lab) -> None:
    smtp = sum(server.connections for server in lab.smtp.values())
    run = run_check(
        *lab.cli_args(),
        "--timeout",
        TIMEOUT,
        "--json",
        "--no-mx-probe",
        "mx-expired.lab.test",
        "mx-plain.lab.test",
    )
    reports = run.reports()
    assert sum(server.connections for server in lab.smtp.values()) == smtp
    for report in reports.values():
        assert report["findings"] == []
        assert report["mx"][0]["probes"] is None
    assert run.status == 0


def test_json_shape(lab: Lab) -> None:
    run = run_check(*lab.cli_args(), "--timeout", TIMEOUT, "--json", "mx-expired.lab.test")
    (line,) = run.stdout.splitlines()
    report = json.loads(line)
    assert {"domain", "findings", "tlsrpt", "mta_sts", "mx"} <= set(report)
    (finding,) = report["findings"]
    assert set(finding) == {"code", "severity", "message", "evidence", "fix"}
    assert finding["evidence"]["certificate"]["not_after"].endswith("Z")
    assert report["tlsrpt"]["record"] == "v=TLSRPTv1; rua=mailto:tlsrpt@mx-expired.lab.test"
    assert report["mta_sts"]["id"] == "20240501T000000"
    assert report["mta_sts"]["policy"]["mode"] == "enforce"
    (mx,) = report["mx"]
    assert mx["host"] == "mx.mx-expired.lab.test"
    assert mx["mta_sts"]["covered"] is True
    (probe,) = mx["probes"]
    assert probe["starttls"] and probe["tls_version"] == "TLSv1.3"
    assert probe["certificate"]["expired"] is True
    assert run.status == 1


def test_human_output_with_fix(lab: Lab) -> None:
    run = run_check(
        *lab.cli_args(), "--timeout", TIMEOUT, "mx-not-covered.lab.test", "clean.lab.test"
    )
    assert run.status == 1
    assert "ERROR   sts-mx-not-covered" in run.stdout
    assert "fix: # serve at https://mta-sts.mx-not-covered.lab.test/" in run.stdout
    assert "mx: mx.mx-not-covered.lab.test" in run.stdout
    assert "clean.lab.test  no findings" in run.stdout
    assert "2 domains checked: 1 with errors" in run.stdout


def test_exit_zero_when_only_warnings(lab: Lab) -> None:
    run = run_check(*lab.cli_args(), "--timeout", TIMEOUT, "--json", "mode-none.lab.test")
    assert run.status == 0


def test_file_input(lab: Lab, tmp_path: Path) -> None:
    listing = tmp_path / "domains.txt"
    listing.write_text(
        "# customers\nclean.lab.test\n\nMODE-NONE.lab.test.  # trailing dot\nclean.lab.test\n"
    )
    run = run_check(*lab.cli_args(), "--timeout", TIMEOUT, "--json", "--file", str(listing))
    assert sorted(run.reports()) == ["clean.lab.test", "mode-none.lab.test"]
    run = run_check(
        *lab.cli_args(), "--timeout", TIMEOUT, "--json", "--file", "-", stdin="clean.lab.test\n"
    )
    assert list(run.reports()) == ["clean.lab.test"]


def test_idn_is_queried_as_a_label(lab: Lab) -> None:
    """RFC 8460 §3; docs/conformance.md#tlsrpt-query-name: a U-label domain is looked up in A-label
    form."""
    run = run_check(
        *lab.cli_args(), "--timeout", TIMEOUT, "--json", "--no-mx-probe", "bücher.lab.test"
    )
    assert list(run.reports()) == ["xn--bcher-kva.lab.test"]
    assert lab.dns.queries[("_smtp._tls.xn--bcher-kva.lab.test.", "TXT")] >= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no domain to check"),
        (["not a domain"], "argument 1: 'not a domain' is not a domain name"),
        (["localhost"], "needs a dot"),
        (["example.com:25"], "'example.com:25' is not a domain name"),
        (["10.0.0.1"], "'10.0.0.1' is an IP address, not a domain name"),
        (["[fec0::1]"], "'[fec0::1]' is an IP address, not a domain name"),
        (["https://example.com/"], "is not a domain name"),
        (["--file", "/nonexistent/list"], "cannot read /nonexistent/list"),
        (["--nameserver", "ns.example:53", "example.com"], "not an IP address"),
        (["--ca-file", "/nonexistent.pem", "example.com"], "--ca-file /nonexistent.pem"),
        (["--concurrency", "0", "example.com"], "must be at least 1"),
        (["--smtp-port", "70000", "example.com"], "is not a port"),
        (["--timeout", "soon", "example.com"], "is not a number"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    run = run_check(*args)
    assert run.status == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_bad_file_line_is_named(tmp_path: Path) -> None:
    listing = tmp_path / "domains.txt"
    listing.write_text("example.com\nexa mple.com\n")
    run = run_check("--file", str(listing))
    assert run.status == 2
    assert f"{listing}:2" in run.stderr


def test_ca_file_without_certificates(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    run = run_check("--ca-file", str(bad), "example.com")
    assert run.status == 2 and "no PEM certificate" in run.stderr
