"""Receiving throughput of a real `tlsrpt serve` process: HTTP and SMTP.

    .venv/bin/python benchmarks/receive.py [--clients 50] [--seconds 20]
        [--smtp-clients 10] [--smtp-seconds 15] [--postgres URL] [--workdir DIR]

Starts `tlsrpt serve` as a separate process on 127.0.0.1 (fresh SQLite
database, or a schema of its own on PostgreSQL with `--postgres`), with
the SMTP receiver on, then from this process:

1. `--clients` concurrent HTTP clients (threads, one keep-alive connection
   each, each from its own 127.0.x.y address like distinct senders) call
   `GET /healthz` for `--seconds`: the reference, the server's own cost per
   request, measured in the same run;
2. the same clients POST distinct gzip reports (`application/tlsrpt+gzip`,
   RFC 8460 §5.4) to `/v1/reports` for `--seconds`; every answer must be
   201 (a new report, committed before the answer);
3. `--smtp-clients` smtplib clients send report mails (one session each,
   one message after another) for `--smtp-seconds`; every answer must be
   250. `smtp_accept_unsigned` is on, so messages are stored as reports
   without a DKIM key lookup (DKIM is measured in its own tests).

Printed: requests/s, p50 and p99 latency, errors, the server's CPU time per
request (its own, and its ingest child process's: Linux only), and the
ratio of reports/s to /healthz requests/s (target: >= 50 % on
SQLite, zero errors). Exit 1 on any error. Only loopback is contacted.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from tlsrpt.report import parse_report
from tlsrpt.report.compose import compose_message
from tlsrpt.store.pgschema import temporary_schema

HOST = "127.0.0.1"


def report(report_id: str) -> bytes:
    return orjson.dumps(
        {
            "organization-name": "Benchmark Org",
            "date-range": {
                "start-datetime": "2026-11-03T00:00:00Z",
                "end-datetime": "2026-11-03T23:59:59Z",
            },
            "contact-info": "tlsrpt@bench.example",
            "report-id": report_id,
            "policies": [
                {
                    "policy": {
                        "policy-type": "sts",
                        "policy-string": ["version: STSv1", "mode: enforce", "mx: *.example.org"],
                        "policy-domain": "example.org",
                        "mx-host": ["*.example.org"],
                    },
                    "summary": {
                        "total-successful-session-count": 120,
                        "total-failure-session-count": 2,
                    },
                    "failure-details": [
                        {
                            "result-type": "certificate-expired",
                            "sending-mta-ip": "192.0.2.1",
                            "receiving-mx-hostname": "mx1.example.org",
                            "failed-session-count": 2,
                        }
                    ],
                }
            ],
        }
    )


def report_mail(report_id: str) -> bytes:
    msg = compose_message(
        parse_report(report(report_id)).report,
        submitter="bench.example",
        from_address="tlsrpt@bench.example",
        to_address="tlsrpt@example.org",
    )
    return msg.as_bytes().replace(b"\n", b"\r\n")  # smtplib sends bytes as given


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    # CPU time of the server process, and of its child processes, during the phase
    server_cpu_s: tuple[float, float] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)  # ends it before its time

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def line(self) -> str:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

        errors = sum(self.errors.values())
        detail = f" {self.errors}" if errors else ""
        cpu = ""
        if self.server_cpu_s is not None and lat:
            own, children = (t / len(lat) * 1e6 for t in self.server_cpu_s)
            cpu = f"  server CPU {own:.0f} us/req (+{children:.0f} in its child)"
        return (
            f"{self.name:<34} {self.rate:9.1f}/s  p50 {pct(0.50):7.1f} ms  "
            f"p99 {pct(0.99):7.1f} ms  n={len(lat)}  errors={errors}{detail}{cpu}"
        )


def process_cpu_s(pid: int) -> tuple[float, float] | None:
    """User + system CPU seconds so far of a process and of its children
    (the ingest process of `tlsrpt serve`), from Linux /proc; None elsewhere."""

    def cpu(p: int) -> float:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    try:
        children = [
            int(c)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()
        ]
        return cpu(pid), sum(cpu(c) for c in children)
    except OSError:
        return None


def run_phase(
    phase: Phase,
    clients: int,
    seconds: float,
    worker: Callable[..., None],
    server_pid: int | None = None,
) -> Phase:
    """`clients` threads call `worker(index, phase, deadline)`; wall time
    measured, and the server's CPU time when its pid is given."""
    cpu_before = process_cpu_s(server_pid) if server_pid else None
    start = time.perf_counter()
    deadline = start + seconds
    threads = [
        threading.Thread(target=worker, args=(i, phase, deadline), daemon=True)
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    phase.elapsed = time.perf_counter() - start
    cpu_after = process_cpu_s(server_pid) if server_pid else None
    if cpu_before is not None and cpu_after is not None:
        phase.server_cpu_s = (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])
    return phase


def client_address(index: int) -> str:
    """Each client its own loopback address, as distinct senders are: the
    receiver's per-address rate limit (20/s, burst 2000) applies to each."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def http_worker(
    port: int, request: Callable[[int, int], tuple[str, str, bytes, dict[str, str]]], expect: int
) -> Callable[[int, Phase, float], None]:
    def work(index: int, phase: Phase, deadline: float) -> None:
        def connect() -> http.client.HTTPConnection:
            return http.client.HTTPConnection(
                HOST, port, timeout=60, source_address=(client_address(index), 0)
            )

        conn = connect()
        n = 0
        while time.perf_counter() < deadline and not phase.stop.is_set():
            method, path, body, headers = request(index, n)
            n += 1
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body or None, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                phase.error(type(exc).__name__)
                conn.close()
                conn = connect()
                continue
            took = time.perf_counter() - t0
            if response.status != expect:
                phase.error(f"HTTP {response.status}")
                continue
            with phase.lock:
                phase.latencies.append(took)
        conn.close()

    return work


def smtp_worker(port: int, run_id: str) -> Callable[[int, Phase, float], None]:
    def work(index: int, phase: Phase, deadline: float) -> None:
        n = 0
        with smtplib.SMTP(HOST, port, timeout=60) as client:
            client.ehlo("bench.example")
            while time.perf_counter() < deadline:
                message = report_mail(f"{run_id}-smtp-{index}-{n}")
                n += 1
                t0 = time.perf_counter()
                try:
                    refused = client.sendmail("b@bench.example", ["tlsrpt@example.org"], message)
                except smtplib.SMTPException as exc:
                    phase.error(type(exc).__name__)
                    continue
                took = time.perf_counter() - t0
                if refused:
                    phase.error("refused")
                    continue
                with phase.lock:
                    phase.latencies.append(took)

    return work


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"tlsrpt serve exited:\n{log.read_text()}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("tlsrpt serve did not start listening")


def report_poster(
    run_id: str, prefix: str, clients: int, ready: int = 0
) -> Callable[[int, int], tuple[str, str, bytes, dict[str, str]]]:
    """Requests of `http_worker` that POST distinct gzip reports; the first
    `ready` of each client built now, before the phase starts, as a sender
    compresses on its own machine, so that the client process spends the
    timed seconds on HTTP alone."""

    def body(i: int, n: int) -> bytes:
        return gzip.compress(report(f"{run_id}-{prefix}-{i}-{n}"), compresslevel=6)

    built = [[body(i, n) for n in range(ready)] for i in range(clients)]

    def request(i: int, n: int) -> tuple[str, str, bytes, dict[str, str]]:
        data = built[i][n] if n < ready else body(i, n)
        return "POST", "/v1/reports", data, {"Content-Type": "application/tlsrpt+gzip"}

    return request


@dataclass
class ServeProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    returncode: int | None = None


@contextmanager
def serve_process(db_url: str, workdir: Path, settings: str = "") -> Iterator[ServeProcess]:
    """`tlsrpt serve` as a separate process on HOST, a fresh port, the
    database `db_url` and the extra TOML `settings`, listening; SIGTERM at
    the end (`returncode` then holds its exit status)."""
    http_port = free_port()
    config = workdir / "tlsrpt.toml"
    config.write_text(
        f"database_url = {orjson.dumps(db_url).decode()}\nport = {http_port}\n{settings}"
    )
    log = workdir / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tlsrpt", "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    served = ServeProcess(proc, http_port, log)
    try:
        wait_listening(http_port, proc, log)
        yield served
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        served.returncode = proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--smtp-clients", type=int, default=10)
    parser.add_argument("--smtp-seconds", type=float, default=15.0)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server instead of SQLite")
    parser.add_argument("--workdir", type=Path, help="where the database and log go")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tlsrpt-bench-receive-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cleanup = ExitStack()  # the PostgreSQL schema, dropped at the end
    if args.postgres:
        db_url = cleanup.enter_context(temporary_schema(args.postgres, "tlsrpt_bench"))
        backend = "PostgreSQL"
    else:
        db_url = f"sqlite:///{workdir / 'receive.sqlite3'}"
        backend = "SQLite"
    smtp_port = free_port()
    settings = (
        f'smtp_port = {smtp_port}\nsmtp_recipients = ["tlsrpt@example.org"]\n'
        "smtp_accept_unsigned = true\nsmtp_max_message_bytes = 1048576\n"
    )
    run_id = uuid.uuid4().hex[:8]
    with cleanup, serve_process(db_url, workdir, settings) as served:
        http_port, proc = served.port, served.proc
        wait_listening(smtp_port, proc, served.log)
        print(
            f"tlsrpt serve ({backend}) pid {proc.pid} on {HOST}:{http_port}, SMTP {smtp_port}; "
            f"client process pid {os.getpid()}; {os.cpu_count()} CPUs"
        )

        def healthz(_i: int, _n: int) -> tuple[str, str, bytes, dict[str, str]]:
            return "GET", "/healthz", b"", {}

        # Warm-up (imports, connection pools), not counted.
        warm = report_poster(run_id, "warm", 4)
        run_phase(Phase("warm-up"), 4, 1.0, http_worker(http_port, warm, 201))
        ref = run_phase(
            Phase(f"GET /healthz ({args.clients} clients)"),
            args.clients,
            args.seconds,
            http_worker(http_port, healthz, 200),
            proc.pid,
        )
        print(ref.line())
        # enough for each client to go as fast as /healthz did, and a margin
        ready = int(ref.rate * args.seconds * 1.2 / args.clients) + 1
        posts = run_phase(
            Phase(f"POST /v1/reports gzip ({args.clients})"),
            args.clients,
            args.seconds,
            http_worker(http_port, report_poster(run_id, "http", args.clients, ready), 201),
            proc.pid,
        )
        print(posts.line())
        ratio = posts.rate / ref.rate if ref.rate else 0.0
        print(f"{'reports/s : /healthz requests/s':<34} {ratio:9.1%}   (target >= 50 % on SQLite)")
        smtp = run_phase(
            Phase(f"SMTP messages ({args.smtp_clients} clients)"),
            args.smtp_clients,
            args.smtp_seconds,
            smtp_worker(smtp_port, run_id),
            proc.pid,
        )
        print(smtp.line())
    errors = sum(sum(p.errors.values()) for p in (ref, posts, smtp))
    if served.returncode != 0:
        print(f"tlsrpt serve exited {served.returncode}; log: {served.log}")
        return 1
    print(f"errors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
