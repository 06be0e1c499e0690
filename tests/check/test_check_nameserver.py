"""The resolver as part of the environment: `--nameserver` forms, and a
resolver that does not answer at all is an environment error (exit 2, no
findings against the domains), while a domain whose own servers fail is a
finding."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterator

import dns.message
import dns.rcode
import pytest
from checklab.lab import Lab

from conftest import TIMEOUT, run_check
from tlsrpt.check.resolver import parse_nameserver


class _Responder:
    """A UDP server on 127.0.0.1 that answers every query with `rcode`, in a thread."""

    def __init__(self, rcode: dns.rcode.Rcode) -> None:
        self.rcode = rcode
        self.queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.queries += 1
            response = dns.message.make_response(dns.message.from_wire(data))
            response.set_rcode(self.rcode)
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[str]:
    """A bound UDP socket that never answers (no ICMP error either)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def closed() -> str:
    """A port where nothing listens: the kernel answers port unreachable."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture
def responder() -> Iterator[Callable[[dns.rcode.Rcode], _Responder]]:
    started: list[_Responder] = []

    def start(rcode: dns.rcode.Rcode) -> _Responder:
        started.append(_Responder(rcode))
        return started[-1]

    yield start
    for server in started:
        server.close()


def _check(*nameservers: str, json_out: bool = False) -> tuple[int, str, str]:
    args = [arg for ns in nameservers for arg in ("--nameserver", ns)]
    args += ["--timeout", "0.5", "--no-mx-probe", "example.com", "example.net"]
    run = run_check(*args, *(["--json"] if json_out else []))
    return run.status, run.stdout, run.stderr


def test_silent_resolver_is_an_environment_error(silent: str) -> None:
    status, out, err = _check(silent)
    assert status == 2
    assert out == ""  # no findings against example.com or example.net
    assert f"{silent}: no answer within 0.5 s" in err
    assert "example.com" not in err and "Traceback" not in err


def test_refusing_resolver_is_an_environment_error(
    responder: Callable[[dns.rcode.Rcode], _Responder],
) -> None:
    server = responder(dns.rcode.REFUSED)
    status, out, err = _check(f"127.0.0.1:{server.port}", json_out=True)
    assert status == 2
    assert server.queries >= 1
    (line,) = out.splitlines()
    error = json.loads(line)["error"]
    assert error["code"] == "resolver-unavailable"
    assert error["nameservers"] == [
        {"nameserver": f"127.0.0.1:{server.port}", "problem": "answered REFUSED for the root zone"}
    ]
    assert "domain" not in json.loads(line)
    assert "answered REFUSED" in err


def test_every_dead_resolver_is_named(
    silent: str, closed: str, responder: Callable[[dns.rcode.Rcode], _Responder]
) -> None:
    """Timeout, connection refused and SERVFAIL for the root: each named, in order."""
    failing = responder(dns.rcode.SERVFAIL)
    status, out, _ = _check(silent, closed, f"127.0.0.1:{failing.port}", json_out=True)
    assert status == 2
    problems = [p["problem"] for p in json.loads(out)["error"]["nameservers"]]
    assert problems == [
        "no answer within 0.5 s",
        "Connection refused",
        "answered SERVFAIL for the root zone",
    ]


def test_one_live_resolver_is_enough(lab: Lab, silent: str) -> None:
    """A dead nameserver next to a live one is no environment error."""
    run = run_check(
        *lab.cli_args(), "--nameserver", silent, "--timeout", TIMEOUT, "--json", "clean.lab.test"
    )
    assert run.status == 0
    assert run.reports()["clean.lab.test"]["findings"] == []


def test_servfail_for_one_domain_is_a_finding(lab: Lab) -> None:
    """The domain's own servers failing is about the domain: findings, exit 1."""
    run = run_check(*lab.cli_args(), "--timeout", TIMEOUT, "--json", "mx-servfail.lab.test")
    assert run.status == 1
    codes = {f["code"] for f in run.reports()["mx-servfail.lab.test"]["findings"]}
    assert "dns-lookup-failed" in codes


def test_ipv6_nameserver_with_port(lab: Lab) -> None:
    """`--nameserver [::1]:PORT` reaches a server listening on ::1."""
    try:
        server, port = lab.serve_dns_on("::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    args = lab.cli_args(nameserver=f"[::1]:{port}")
    run = run_check(*args, "--timeout", TIMEOUT, "--no-mx-probe", "--json", "clean.lab.test")
    assert run.status == 0, run.stderr
    assert run.reports()["clean.lab.test"]["findings"] == []
    assert server.queries[("_smtp._tls.clean.lab.test.", "TXT")] >= 1


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        (" [2001:db8::53]:53 ", ("2001:db8::53", 53)),
    ],
)
def test_nameserver_forms(spec: str, parsed: tuple[str, int]) -> None:
    assert parse_nameserver(spec) == parsed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("[::1]5353", "expected [IPv6]:PORT"),
        ("[::1", "expected [IPv6]:PORT"),
        ("127.0.0.1:0", "port must be 1-65535"),
        ("127.0.0.1:70000", "port must be 1-65535"),
        ("ns.example:53", "is not an IP address"),
        ("::1:5353:x", "is not an IP address"),
    ],
)
def test_bad_nameserver_is_a_usage_error(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_nameserver(spec)
    run = run_check("--nameserver", spec, "example.com")
    assert run.status == 2 and message in run.stderr
