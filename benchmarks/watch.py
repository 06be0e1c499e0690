"""A `tlsrpt watch --once` cycle over lab domains while `tlsrpt serve`
receives reports, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/watch.py [--domains 10000] [--concurrency 100]
        [--latency 0.03] [--clients 50] [--seconds 20] [--postgres URL]
        [--no-sqlite] [--watch-nice 10] [--rules-stored N]

The lab of benchmarks/benchlab.py (its own process) serves `--domains`
healthy domains with `--latency` added to every DNS answer, TCP accept and
HTTPS/SMTP response. Per database (SQLite files; schemas of their own on
PostgreSQL with `--postgres` or TLSRPT_TEST_POSTGRES_URL, dropped at the
end), measured in the same run:

1. `tlsrpt check --file ... --json` over the domains, MX probe on, same
   `--concurrency`: the bulk reference (domains/s, interpreter start-up
   included);
2. `tlsrpt watch --once --json` (a separate process, same checker options
   and concurrency, the domains registered in a fresh database) alone:
   the cycle's domains/s (start-up included), against 1;
3. on another fresh database, `tlsrpt serve` (a separate process,
   `watch_interval = 0`: no watcher of its own); `--clients` HTTP clients
   POST distinct gzip reports to /v1/reports for `--seconds`: the
   receiver's throughput without the watcher (POSTs/s, every answer 201);
4. the same clients POST for as long as `tlsrpt watch --once` takes there
   (its report rules then evaluate the reports received meanwhile): the
   receiver's POSTs/s during a cycle, and the cycle's domains/s then;
5. the clients alone again for `--seconds`: the receiver's reference is the
   mean of 3 and 5 (the database grew in between; other load on a shared
   machine comes and goes).

Beside the receiver, the watcher runs at niceness `--watch-nice` (default
10), as the systemd unit in deploy/ runs it: scheduled checks are
background work, and the receiver must keep taking reports; alone, at the
niceness of `tlsrpt check` (niceness only decides who gets the CPU first
when both want it, and on a shared machine other processes want it too).
The lab stands for DNS, HTTPS and SMTP servers elsewhere on the Internet,
whose CPU a real receiver never shares: during the receiving cycle it runs
at `--watch-nice` too (its CPU time per domain is printed all the same).
Targets (ratios, so that the machine's
speed cancels out): the cycle at >= 50 % of `tlsrpt check`'s throughput;
the receiver keeps >= 70 % of its throughput during a cycle. The third
target, report-rule evaluation under 1 s per 1,000 new reports with
1,000,000 stored, is measured by benchmarks/alert_rules.py; `--rules-stored
N` runs it here too (N stored reports, 1,000 new, on each database).

CPU time per domain of the watcher, the checker and the lab are printed:
on a machine with few cores they compete with the receiver and its
clients for the same CPU. Only loopback is contacted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlab import LabProcess, bench_domains, run_check
from receive import Phase, http_worker, report_poster, run_phase, serve_process
from tlsrpt.store.engine import open_store
from tlsrpt.store.pgschema import temporary_schema
from tlsrpt.store.users import add_domain

CHECK_TARGET, RECEIVER_TARGET = 0.5, 0.7


@dataclass
class Cycle:
    domains: int
    seconds: float
    cpu_ms_per_domain: float
    lab_cpu_ms_per_domain: float
    summary: dict[str, Any]
    exit: int

    @property
    def rate(self) -> float:
        return self.domains / self.seconds


@contextmanager
def database(backend: str, path: Path, postgres: str | None) -> Iterator[str]:
    """A fresh database: the SQLite file `path`, or a PostgreSQL schema."""
    if backend == "SQLite":
        yield f"sqlite:///{path}"
        return
    assert postgres is not None
    with temporary_schema(postgres, "tlsrpt_bench_watch") as url:
        yield url


def register(url: str, domains: list[str]) -> None:
    """Migrate the database and register the domains (`tlsrpt domain add`)."""
    store = open_store(url)
    try:
        with store.write() as conn:
            for domain in domains:
                add_domain(conn, domain)
    finally:
        store.close()


def watch_cycle(
    lab: LabProcess, url: str, args: argparse.Namespace, phase: Phase | None = None
) -> Cycle:
    """`tlsrpt watch --once --json` to its end; with `phase` (the receiver's
    clients, told to stop then) at niceness `--watch-nice`, alone at the
    niceness of `tlsrpt check`."""
    command = [sys.executable, "-m", "tlsrpt", "watch", "--once", "--json", "--db", url]
    command += ["--concurrency", str(args.concurrency), *lab.checker_args(args.timeout)]
    if args.watch_nice and phase is not None:
        command = ["nice", "-n", str(args.watch_nice), *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_")}
    lab_before = lab.cpu_seconds()
    # the CPU time of the children reaped meanwhile: the watcher's alone
    # (`tlsrpt serve` is reaped later)
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate()
    elapsed = time.perf_counter() - started
    if phase is not None:
        phase.stop.set()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    lab_cpu = lab.cpu_seconds() - lab_before
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    if proc.returncode not in (0, 1) or not lines or "summary" not in lines[-1]:
        raise SystemExit(f"tlsrpt watch failed ({proc.returncode}): {err[-2000:]!r}")
    summary = lines[-1]["summary"]
    n = max(1, summary["domains"])
    return Cycle(
        summary["domains"],
        elapsed,
        round(cpu / n * 1000, 2),
        round(lab_cpu / n * 1000, 2),
        summary,
        proc.returncode,
    )


def run_backend(
    backend: str, lab: LabProcess, listing: Path, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    domains = bench_domains(args.domains)
    check = run_check(lab, listing, args.concurrency, True, args.timeout)
    print(f"{backend}: tlsrpt check {check}", flush=True)
    with database(backend, workdir / "alone.sqlite3", args.postgres) as url:
        register(url, domains)
        alone = watch_cycle(lab, url, args)
    print(f"{backend}: tlsrpt watch --once, alone: {alone}", flush=True)
    run_id = uuid.uuid4().hex[:8]
    with database(backend, workdir / "receiving.sqlite3", args.postgres) as url:
        register(url, domains)
        with serve_process(url, workdir, 'watch_interval = "0"\n') as served:
            port = served.port

            def receive(name: str, seconds: float, phase: Phase | None = None) -> Phase:
                poster = report_poster(run_id, name, args.clients)
                return run_phase(
                    phase or Phase(name),
                    args.clients,
                    seconds,
                    http_worker(port, poster, 201),
                    served.proc.pid,
                )

            receive("warm-up", 2.0)
            before = receive("receiver alone (before)", args.seconds)
            print(f"{backend}: {before.line()}", flush=True)
            during = Phase("receiver during the cycle")
            clients = threading.Thread(target=receive, args=(during.name, 1e9, during))
            clients.start()
            lab.renice(args.watch_nice)  # it stands for hosts elsewhere on the Internet
            try:
                cycle = watch_cycle(lab, url, args, during)
            finally:
                clients.join()
                with contextlib.suppress(PermissionError):
                    lab.renice(0)
            print(f"{backend}: {during.line()}", flush=True)
            print(f"{backend}: tlsrpt watch --once, receiving: {cycle}", flush=True)
            after = receive("receiver alone (after)", args.seconds)
            print(f"{backend}: {after.line()}", flush=True)
        if served.returncode != 0:
            raise SystemExit(f"tlsrpt serve exited {served.returncode}; log: {served.log}")
    rules = run_rules(backend, args.postgres, args.rules_stored) if args.rules_stored else None
    errors = sum(sum(p.errors.values()) for p in (before, during, after))
    return {
        "check": check,
        "alone": alone,
        "cycle": cycle,
        "recv_alone": (before.rate + after.rate) / 2,
        "recv_each": (before.rate, after.rate),
        "during": during.rate,
        "errors": errors,
        "rules": rules,
    }


def run_rules(backend: str, postgres: str | None, stored: int) -> float:
    """benchmarks/alert_rules.py's measurement, on a fresh schema or file:
    seconds to evaluate the report rules after 1,000 new reports."""
    import alert_rules

    settings = argparse.Namespace(stored=stored, domains=1000, new=1000)
    if backend == "SQLite":
        with tempfile.TemporaryDirectory() as tmp:
            return alert_rules.run(backend, f"sqlite:///{Path(tmp) / 'rules.db'}", settings)
    assert postgres is not None
    with temporary_schema(postgres, "tlsrpt_bench_rules") as fresh:
        return alert_rules.run(backend, fresh, settings)


def table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        f"{args.domains} lab domains, {args.latency * 1000:g} ms latency, concurrency "
        f"{args.concurrency}, {args.clients} HTTP clients, watcher at nice {args.watch_nice}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"{'':<11}{'check':>8}{'watch':>8}{'ratio':>7}{'':>8}{'watch':>11}{'POST/s':>8}"
        f"{'POST/s':>8}{'ratio':>7}{'':>8}{'rules':>8}"
    )
    print(
        f"{'database':<11}{'dom/s':>8}{'dom/s':>8}{'':>7}{'(>=50%)':>8}{'receiving':>11}"
        f"{'alone':>8}{'during':>8}{'':>7}{'(>=70%)':>8}{'s/1000':>8}"
    )
    for backend, r in results.items():
        check_rate = r["check"]["domains"] / r["check"]["seconds"]
        alone: Cycle = r["alone"]
        watch_ratio = alone.rate / check_rate
        recv_ratio = r["during"] / r["recv_alone"] if r["recv_alone"] else 0.0
        rules = f"{r['rules']:.3f}" if r["rules"] is not None else "-"
        print(
            f"{backend:<11}{check_rate:>8.1f}{alone.rate:>8.1f}{watch_ratio:>7.0%}"
            f"{'ok' if watch_ratio >= CHECK_TARGET else 'MISSED':>8}{r['cycle'].rate:>11.1f}"
            f"{r['recv_alone']:>8.1f}{r['during']:>8.1f}{recv_ratio:>7.0%}"
            f"{'ok' if recv_ratio >= RECEIVER_TARGET else 'MISSED':>8}{rules:>8}"
        )
    for backend, r in results.items():
        for name in ("alone", "cycle"):
            cycle = r[name]
            print(
                f"{backend}: cycle {'alone' if name == 'alone' else 'while receiving'} "
                f"{cycle.seconds:.1f} s, CPU per domain: watch {cycle.cpu_ms_per_domain} ms, "
                f"lab {cycle.lab_cpu_ms_per_domain} ms; {cycle.summary}"
            )
        print(
            f"{backend}: check {r['check']['seconds']:.1f} s, CPU per domain: check "
            f"{r['check']['cpu_ms_per_domain']} ms, lab {r['check']['lab_cpu_ms_per_domain']} ms; "
            f"receiver alone before/after {r['recv_each'][0]:.1f}/{r['recv_each'][1]:.1f}/s, "
            f"HTTP errors {r['errors']}"
        )
    if not any(r["rules"] is not None for r in results.values()):
        print(
            "report rules: not run here (--rules-stored N); benchmarks/alert_rules.py measures "
            "them with 1,000,000 stored (target < 1 s per 1,000 new reports)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50, help="HTTP clients POSTing reports")
    parser.add_argument("--seconds", type=float, default=20.0, help="each receiver-alone phase")
    parser.add_argument("--postgres", default=os.environ.get("TLSRPT_TEST_POSTGRES_URL"))
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--watch-nice",
        type=int,
        default=10,
        metavar="N",
        help="run the watcher at this niceness, as deploy/systemd/tlsrpt-watch.service does "
        "(0: as the receiver)",
    )
    parser.add_argument(
        "--rules-stored",
        type=int,
        default=0,
        metavar="N",
        help="also run benchmarks/alert_rules.py with N stored reports (0: not here)",
    )
    args = parser.parse_args()
    backends = ([] if args.no_sqlite else ["SQLite"]) + (["PostgreSQL"] if args.postgres else [])
    if not backends:
        parser.error("nothing to measure: --no-sqlite without --postgres")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="tlsrpt-bench-watch-") as directory:
        workdir = Path(directory)
        listing = workdir / "domains.txt"
        listing.write_text("\n".join(bench_domains(args.domains)) + "\n")
        print(f"building the lab: {args.domains} domains", flush=True)
        with LabProcess(args.domains, args.latency, workdir) as lab:
            for backend in backends:
                own = workdir / backend
                own.mkdir()
                results[backend] = run_backend(backend, lab, listing, own, args)
    table(results, args)
    failed = any(
        r["errors"] or r["cycle"].summary["errors"] or r["alone"].summary["errors"]
        for r in results.values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
