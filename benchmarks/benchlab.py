"""The benchmarks' checker lab: `count` healthy domains served by the test
lab (tests/check/checklab) in a process of its own, and `tlsrpt check`
run against it. Used by benchmarks/check.py and benchmarks/watch.py.

The lab process listens on 127.77.0.x: an authoritative DNS server, an
HTTPS policy server and an SMTP server with STARTTLS, each adding
`latency` seconds to every DNS answer, TCP accept and HTTP/SMTP response,
as a network would. Every lab domain `d<i>.bench.test` is healthy: a
TLS-RPT record, an MTA-STS record and enforce policy, and its own MX host
with a valid certificate (no MX is shared, so the probe cache does not
help). It needs the test dependencies (trustme, aiosmtpd) in the
environment that runs the benchmark. All traffic stays on loopback.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAB_PATH = ROOT / "tests" / "check"
ZONE = "bench.test"


def bench_domains(count: int) -> list[str]:
    return [f"d{i}.{ZONE}" for i in range(count)]


def serve_lab(conn: Connection, count: int, latency: float, directory: str) -> None:
    """The lab process: build, start, report the ports, answer "usage"
    with its CPU seconds so far, stop on anything else."""
    sys.path.insert(0, str(LAB_PATH))
    from checklab.lab import Lab
    from checklab.zones import DomainSpec, MxSpec

    lab = Lab(Path(directory), latency=latency, validating=False)
    for domain in bench_domains(count):
        lab.add_domain(DomainSpec(domain, mx=(MxSpec(f"mx.{domain}"),)))
        # Certificates and TLS contexts made now, not during the measurement.
        for host, kind in (
            (f"mta-sts.{domain}", lab.https.certs[f"mta-sts.{domain}"]),
            (f"mx.{domain}", lab.smtp_certs[f"mx.{domain}"]),
        ):
            lab.pki.server_context(host, kind)
    lab.start()
    conn.send(
        {
            "dns": f"127.77.0.1:{lab.dns_port}",
            "https_port": lab.https_port,
            "smtp_port": lab.smtp_port,
            "ca_file": str(lab.pki.ca_file),
        }
    )
    while conn.recv() == "usage":  # anything else: stop
        usage = resource.getrusage(resource.RUSAGE_SELF)
        conn.send(usage.ru_utime + usage.ru_stime)
    lab.stop()


class LabProcess:
    """`with LabProcess(count, latency, directory) as lab:` the lab runs in
    a spawned process; `lab.info` holds its addresses, ports and CA file."""

    def __init__(self, count: int, latency: float, directory: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=serve_lab, args=(child, count, latency, str(directory)), daemon=True
        )
        self.count = count
        self.info: dict[str, Any] = {}

    def __enter__(self) -> LabProcess:
        self._process.start()
        try:
            while not self._conn.poll(1):
                if not self._process.is_alive():
                    raise SystemExit(
                        f"the lab process died (exit {self._process.exitcode}); it needs the "
                        "test dependencies (trustme, aiosmtpd) in this environment"
                    )
            self.info = self._conn.recv()
        except BaseException:
            self._process.kill()
            raise
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self._process.is_alive():
            self._conn.send("stop")
        self._process.join(30)

    def renice(self, niceness: int) -> None:
        """Set the lab process's niceness (raising it back needs privileges)."""
        pid = self._process.pid
        assert pid is not None
        os.setpriority(os.PRIO_PROCESS, pid, niceness)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the lab process used so far."""
        self._conn.send("usage")
        return float(self._conn.recv())

    def checker_args(self, timeout: float) -> list[str]:
        """The checker options (`tlsrpt check`, `tlsrpt watch`) that point at the lab."""
        return [
            "--nameserver",
            self.info["dns"],
            "--smtp-port",
            str(self.info["smtp_port"]),
            "--https-port",
            str(self.info["https_port"]),
            "--ca-file",
            self.info["ca_file"],
            "--allow-private-addresses",
            "--timeout",
            str(timeout),
        ]


def timed_cli(command: list[str]) -> tuple[subprocess.CompletedProcess[bytes], float, float]:
    """Run a `tlsrpt` CLI command to the end: the result, its wall-clock
    seconds and the CPU seconds of the process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tlsrpt", *command], capture_output=True, check=False
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, elapsed, cpu


def run_check(
    lab: LabProcess, listing: Path, concurrency: int, probe: bool, timeout: float
) -> dict[str, Any]:
    """`tlsrpt check --file listing --json` against the lab (interpreter
    start-up included): domains, seconds, CPU per domain of tlsrpt and of
    the lab, how many domains had findings (none is expected)."""
    command = ["check", "--file", str(listing), "--json", "--concurrency", str(concurrency)]
    command += lab.checker_args(timeout)
    if not probe:
        command.append("--no-mx-probe")
    lab_before = lab.cpu_seconds()
    done, elapsed, cpu = timed_cli(command)
    lab_cpu = lab.cpu_seconds() - lab_before
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if done.returncode not in (0, 1) or not reports:
        raise SystemExit(f"tlsrpt check failed ({done.returncode}): {done.stderr[-2000:]!r}")
    return {
        "domains": len(reports),
        "seconds": elapsed,
        "cpu_ms_per_domain": round(cpu / len(reports) * 1000, 2),
        "lab_cpu_ms_per_domain": round(lab_cpu / len(reports) * 1000, 2),
        "with_findings": sum(1 for r in reports if r["findings"]),
        "exit": done.returncode,
    }
