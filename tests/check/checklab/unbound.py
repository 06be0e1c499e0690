"""A validating Unbound (Debian package `unbound`) in front of the lab DNS.

Runs unprivileged on a high port, sends every query to the lab's
authoritative server (a stub for the root, so nothing leaves loopback) and
validates the signed lab zones against their DNSKEYs as trust anchors.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode


def unbound_binary() -> str | None:
    return shutil.which("unbound") or (
        "/usr/sbin/unbound" if Path("/usr/sbin/unbound").exists() else None
    )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((host, 0))
        port = int(udp.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, port))
    return port


class Unbound:
    def __init__(
        self, directory: Path, host: str, upstream: tuple[str, int], trust_anchors: list[str]
    ) -> None:
        self.directory = directory
        self.host = host
        self.upstream = upstream
        self.trust_anchors = trust_anchors
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        anchors = "".join(f'    trust-anchor: "{a}"\n' for a in self.trust_anchors)
        return f"""server:
    interface: {self.host}
    port: {self.port}
    do-ip6: no
    username: ""
    chroot: ""
    directory: "{self.directory}"
    pidfile: "{self.directory}/unbound.pid"
    logfile: "{self.directory}/unbound.log"
    use-syslog: no
    verbosity: 1
    val-log-level: 2
    num-threads: 1
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    qname-minimisation: no
    target-fetch-policy: "0 0 0 0 0"
    prefetch: no
    cache-max-ttl: 60
    cache-max-negative-ttl: 5
    infra-host-ttl: 60
    ede: yes
    module-config: "validator iterator"
    local-zone: "test." nodefault
    trust-anchor-signaling: no
{anchors}
stub-zone:
    name: "."
    stub-addr: {self.upstream[0]}@{self.upstream[1]}

remote-control:
    control-enable: no
"""

    def start(self, timeout: float = 15.0) -> None:
        binary = unbound_binary()
        if binary is None:
            raise RuntimeError("unbound is not installed")
        last_error: Exception | None = None
        for _ in range(3):
            self.port = _free_port(self.host)
            path = self.directory / "unbound.conf"
            path.write_text(self.config())
            self.process = subprocess.Popen(
                [binary, "-d", "-c", str(path)],
                stdout=subprocess.DEVNULL,
                stderr=(self.directory / "unbound.stderr").open("wb"),
            )
            try:
                self._wait_ready(timeout)
                return
            except RuntimeError as exc:
                last_error = exc
                self.stop()
        raise RuntimeError(f"unbound did not start: {last_error}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        query = dns.message.make_query("lab.test.", "SOA")
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                log = (self.directory / "unbound.stderr").read_text(errors="replace")
                raise RuntimeError(f"unbound exited: {log[-500:]}")
            try:
                reply = dns.query.udp(query, self.host, port=self.port, timeout=0.5)
            except (dns.exception.Timeout, OSError):
                time.sleep(0.1)
                continue
            if reply.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                return
            time.sleep(0.1)
        raise RuntimeError("no answer from unbound")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
