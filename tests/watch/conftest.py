"""Fixtures for the watch tests: a checker lab (tests/check/checklab: real
DNS, HTTPS and SMTP servers on loopback) whose domains tests add and change
while it runs, databases on SQLite and PostgreSQL, and the CLI in-process."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_CHECK_TESTS = str(Path(__file__).parents[1] / "check")
if _CHECK_TESTS not in sys.path:
    sys.path.append(_CHECK_TESTS)

from checklab.lab import Lab  # noqa: E402
from checklab.zones import Addr, DomainSpec  # noqa: E402

import tlsrpt.cli  # noqa: E402


@dataclass
class TlsrptProcess:
    proc: subprocess.Popen[bytes]
    port: int  # of `tlsrpt serve`

    def running(self) -> bool:
        """True while it runs; its stderr in the failure when it stopped."""
        assert self.proc.poll() is None, self.proc.communicate()[1].decode()
        return True

    def stop(self) -> str:
        """SIGTERM; its stderr once it has exited 0."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        assert self.proc.returncode == 0, err.decode()
        return err.decode()


class LiveLab:
    """A lab that takes new domains, and changes to them, while it runs."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._names = itertools.count(1)

    def name(self, label: str) -> str:
        """A domain name no other test uses."""
        return f"{label}-{next(self._names)}.lab.test"

    def add(self, spec: DomainSpec) -> str:
        self.lab.add_domain(spec)
        self.publish()
        return spec.domain

    def replace(self, owner: str, rdtype: str, *rdatas: object) -> None:
        """Replace the records of (owner, type) and serve the change."""
        import dns.name
        import dns.rdatatype

        name = dns.name.from_text(owner)
        with self.lab.zones.zone_for(name).writer() as txn:
            txn.delete(name, dns.rdatatype.from_text(rdtype))
        for rdata in rdatas:
            self.lab.zones.add(owner, rdtype, rdata)  # type: ignore[arg-type]
        self.publish()

    def publish(self) -> None:
        """Serve the zones as they are now (after changes to lab.zones)."""
        for origin, zone in self.lab.zones.zones.items():
            self.lab.dns.add_zone(zone, signed=origin in self.lab.zones.signed)

    @property
    def nameserver(self) -> str:
        return f"{Addr.DNS}:{self.lab.dns_port}"  # authoritative: no cache to outlive a change

    def spawn(self, *args: str, db: str, **env: str) -> TlsrptProcess:
        """`tlsrpt ARGS` in a process of its own, its watcher (settings in
        the environment) pointed at the lab, its server on a free port."""
        dns_host, dns_port = self.nameserver.split(":")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        settings = {
            "TLSRPT_DATABASE_URL": db,
            "TLSRPT_PORT": str(port),
            "TLSRPT_DNS_NAMESERVERS": dns_host,
            "TLSRPT_DNS_PORT": dns_port,
            "TLSRPT_WATCH_CA_FILE": str(self.lab.pki.ca_file),
            "TLSRPT_WATCH_ALLOW_PRIVATE_ADDRESSES": "true",
            "TLSRPT_WATCH_SMTP_PORT": str(self.lab.smtp_port),
            "TLSRPT_WATCH_HTTPS_PORT": str(self.lab.https_port),
            "TLSRPT_WATCH_JITTER": "0",
            **env,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "tlsrpt", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **settings},
        )
        return TlsrptProcess(proc, port)

    def cli_args(self) -> list[str]:
        return [
            "--nameserver",
            self.nameserver,
            "--smtp-port",
            str(self.lab.smtp_port),
            "--https-port",
            str(self.lab.https_port),
            "--ca-file",
            str(self.lab.pki.ca_file),
            "--allow-private-addresses",
            "--timeout",
            "2",
        ]


@pytest.fixture(scope="session")
def live_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveLab]:
    lab = Lab(tmp_path_factory.mktemp("watchlab"), validating=False)
    lab.start()
    try:
        yield LiveLab(lab)
    finally:
        lab.stop()


@dataclass
class CliRun:
    status: int
    stdout: str
    stderr: str


def _run_cli(*args: str, clock: Callable[[], Any] | None = None) -> CliRun:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if clock is None:
                status = tlsrpt.cli.main(list(args))
            else:  # a command that takes a clock (tlsrpt watch), run on it
                parsed = tlsrpt.cli.build_parser(list(args)).parse_args(list(args))
                status = int(parsed.func(parsed, clock=clock))
        except SystemExit as exc:  # argparse's own errors, as the entry point exits
            status = int(exc.code or 0)
    out.flush()
    err.flush()
    return CliRun(
        status,
        out.buffer.getvalue().decode("utf-8"),  # type: ignore[attr-defined]
        err.buffer.getvalue().decode("utf-8"),  # type: ignore[attr-defined]
    )


@pytest.fixture
def run_cli() -> Callable[..., CliRun]:
    """`tlsrpt ARGS` in this process, stdout and stderr captured; with
    `clock=`, the command runs on that clock (an aware-UTC callable)."""
    return _run_cli


def _wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.05)


@pytest.fixture
def wait_for() -> Callable[[Callable[[], object], float, str], None]:
    """Poll `condition` until it holds; fail after `seconds` naming `what`."""
    return _wait_for
