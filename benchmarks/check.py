"""Benchmark `tlsrpt check` against checkdmarc on the same lab domains.

    python benchmarks/check.py [--domains 1000] [--concurrency 100] [--latency 0.03]
                               [--repeat 3] [--checkdmarc-domains N] [--no-checkdmarc]

A lab (tests/check/checklab) runs in a separate process on 127.77.0.x:
an authoritative DNS server, an HTTPS policy server and an SMTP server with
STARTTLS, each adding `--latency` seconds to every DNS answer, TCP accept
and HTTP/SMTP response, as a network would. Every lab domain is healthy:
a TLS-RPT record, an MTA-STS record and enforce policy, and its own MX host
with a valid certificate (no MX is shared, so the probe cache does not help).

Measured in the same run, as domains per second:
- `tlsrpt check --file ... --json --concurrency N` (the CLI, interpreter
  start-up included), MX probe off, then on, each `--repeat` times; the
  fastest run counts (as with timeit: other load only slows a run down);
- checkdmarc's `check_smtp_tls_reporting` + `check_mta_sts` for each domain,
  one domain after the other as checkdmarc works, if checkdmarc is
  importable. It is NOT a dependency of tlsrpt; install it yourself
  (`pip install checkdmarc`) to get the comparison. Its DNS queries go to the
  lab server (its `nameservers` argument); its policy download uses
  `requests`, which resolves with the system resolver, so
  `socket.getaddrinfo` is patched in this process to resolve `*.bench.test`
  names through the lab DNS server (paying the same latency) and to send
  port 443 to the lab HTTPS port; `REQUESTS_CA_BUNDLE` points at the lab CA.

The comparable pair is tlsrpt with the MX probe off (checkdmarc probes no
MX); the target is at least 20x checkdmarc's throughput.
Each tlsrpt run also reports the CPU time per domain of the tlsrpt process
and of the lab: they share the machine, so on a loaded machine the
wall-clock rate follows the CPU left over, while checkdmarc (one lookup
after the other) waits on latency.
The lab process needs the test dependencies (trustme, aiosmtpd) in the
environment that runs this script. All traffic stays on loopback.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAB_PATH = ROOT / "tests" / "check"
ZONE = "bench.test"


def bench_domains(count: int) -> list[str]:
    return [f"d{i}.{ZONE}" for i in range(count)]


def serve_lab(conn: Connection, count: int, latency: float, directory: str) -> None:
    """The lab process: build, start, report the ports, wait for "stop"."""
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


def run_tlsrpt(
    lab: dict[str, Any], listing: Path, concurrency: int, probe: bool, timeout: float
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "tlsrpt",
        "check",
        "--file",
        str(listing),
        "--json",
        "--concurrency",
        str(concurrency),
        "--nameserver",
        lab["dns"],
        "--smtp-port",
        str(lab["smtp_port"]),
        "--https-port",
        str(lab["https_port"]),
        "--ca-file",
        lab["ca_file"],
        "--allow-private-addresses",
        "--timeout",
        str(timeout),
    ]
    if not probe:
        command.append("--no-mx-probe")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    unexpected = sum(1 for r in reports if r["findings"])
    if done.returncode not in (0, 1) or not reports:
        raise SystemExit(f"tlsrpt check failed ({done.returncode}): {done.stderr[-2000:]!r}")
    return {
        "domains": len(reports),
        "seconds": elapsed,
        "cpu_ms_per_domain": round(cpu / max(1, len(reports)) * 1000, 2),
        "with_findings": unexpected,
        "exit": done.returncode,
    }


def run_checkdmarc(lab: dict[str, Any], domains: list[str]) -> dict[str, Any] | None:
    try:
        import dns.nameserver
        import dns.resolver
        from checkdmarc.mta_sts import check_mta_sts
        from checkdmarc.smtp_tls_reporting import check_smtp_tls_reporting
    except ImportError:
        return None
    host, port = lab["dns"].split(":")
    nameserver = dns.nameserver.Do53Nameserver(host, int(port))
    lab_resolver = dns.resolver.Resolver(configure=False)
    lab_resolver.nameservers = [nameserver]
    real_getaddrinfo = socket.getaddrinfo

    def lab_getaddrinfo(name: Any, service: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(name, str) and name.rstrip(".").endswith(ZONE):
            address = lab_resolver.resolve(name, "A")[0].address
            if service in (443, "443", "https"):
                service = lab["https_port"]
            return real_getaddrinfo(address, service, *args, **kwargs)
        return real_getaddrinfo(name, service, *args, **kwargs)

    os.environ["REQUESTS_CA_BUNDLE"] = lab["ca_file"]
    socket.getaddrinfo = lab_getaddrinfo  # type: ignore[assignment]
    valid = 0
    try:
        started = time.perf_counter()
        for domain in domains:
            tlsrpt = check_smtp_tls_reporting(domain, nameservers=[nameserver])
            sts = check_mta_sts(domain, nameservers=[nameserver])
            valid += bool(tlsrpt.get("valid")) and bool(sts.get("valid"))
        elapsed = time.perf_counter() - started
    finally:
        socket.getaddrinfo = real_getaddrinfo  # type: ignore[assignment]
    return {"domains": len(domains), "seconds": elapsed, "valid": valid}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each tlsrpt configuration; the fastest counts, as timeit "
        "does, since other load on the machine only ever slows a run down",
    )
    parser.add_argument(
        "--checkdmarc-domains",
        type=int,
        default=None,
        help="check only the first N domains with checkdmarc (default: all)",
    )
    parser.add_argument("--no-checkdmarc", action="store_true")
    args = parser.parse_args()

    domains = bench_domains(args.domains)
    with tempfile.TemporaryDirectory(prefix="tlsrpt-bench-") as directory:
        listing = Path(directory) / "domains.txt"
        listing.write_text("\n".join(domains) + "\n")
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        print(
            f"building the lab: {args.domains} domains, {args.latency * 1000:g} ms latency",
            flush=True,
        )
        process = context.Process(
            target=serve_lab, args=(child, args.domains, args.latency, directory), daemon=True
        )
        process.start()
        try:
            while not parent.poll(1):
                if not process.is_alive():
                    raise SystemExit(
                        f"the lab process died (exit {process.exitcode}); it needs the test "
                        "dependencies (trustme, aiosmtpd) in this environment"
                    )
            lab = parent.recv()
            results: dict[str, Any] = {
                "domains": args.domains,
                "latency": args.latency,
                "concurrency": args.concurrency,
            }
            for probe in (False, True):
                key = "tlsrpt_probe_on" if probe else "tlsrpt_probe_off"
                runs = []
                for _ in range(max(1, args.repeat)):
                    parent.send("usage")
                    lab_before = parent.recv()
                    runs.append(run_tlsrpt(lab, listing, args.concurrency, probe, args.timeout))
                    parent.send("usage")
                    lab_cpu = parent.recv() - lab_before
                    runs[-1]["lab_cpu_ms_per_domain"] = round(lab_cpu / args.domains * 1000, 2)
                    print(f"{key}: {runs[-1]}", flush=True)
                results[key] = min(runs, key=lambda run: run["seconds"])
                results[key]["all_seconds"] = [round(run["seconds"], 2) for run in runs]
            reference = None
            if not args.no_checkdmarc:
                sample = domains[: args.checkdmarc_domains or len(domains)]
                reference = run_checkdmarc(lab, sample)
                results["checkdmarc"] = reference
                print(
                    f"checkdmarc: {reference or 'not installed (pip install checkdmarc)'}",
                    flush=True,
                )
        finally:
            if process.is_alive():
                parent.send("stop")
            process.join(30)
    print()
    print(
        f"{'run (fastest of --repeat)':<26}{'domains':>8}{'seconds':>10}{'domains/s':>11}"
        f"{'vs checkdmarc':>15}"
    )
    reference_rate = reference["domains"] / reference["seconds"] if reference else None
    for key in ("tlsrpt_probe_off", "tlsrpt_probe_on", "checkdmarc"):
        row = results.get(key)
        if not row:
            continue
        rate = row["domains"] / row["seconds"]
        ratio = f"{rate / reference_rate:.1f}x" if reference_rate else "-"
        print(f"{key:<26}{row['domains']:>8}{row['seconds']:>10.2f}{rate:>11.1f}{ratio:>15}")
    for key in ("tlsrpt_probe_off", "tlsrpt_probe_on"):
        print(
            f"{key}: every run took {results[key]['all_seconds']} s; fastest run: "
            f"{results[key]['cpu_ms_per_domain']} ms of CPU per domain in tlsrpt, "
            f"{results[key]['lab_cpu_ms_per_domain']} ms in the lab"
        )
        if results[key]["with_findings"]:
            print(f"note: {results[key]['with_findings']} domains had findings in {key}")
    if reference and reference["valid"] != reference["domains"]:
        print(f"note: checkdmarc judged {reference['valid']}/{reference['domains']} valid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
