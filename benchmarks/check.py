"""Benchmark `tlsrpt check` against checkdmarc on the same lab domains.

    python benchmarks/check.py [--domains 1000] [--concurrency 100] [--latency 0.03]
                               [--repeat 3] [--checkdmarc-domains N] [--no-checkdmarc]

The lab of benchmarks/benchlab.py (tests/check/checklab in a separate
process on 127.77.0.x, `--latency` seconds added to every answer) serves
`--domains` healthy domains, each with its own MX host.

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
All traffic stays on loopback.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlab import ZONE, LabProcess, bench_domains, run_check


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
        print(
            f"building the lab: {args.domains} domains, {args.latency * 1000:g} ms latency",
            flush=True,
        )
        with LabProcess(args.domains, args.latency, Path(directory)) as lab:
            results: dict[str, Any] = {
                "domains": args.domains,
                "latency": args.latency,
                "concurrency": args.concurrency,
            }
            for probe in (False, True):
                key = "tlsrpt_probe_on" if probe else "tlsrpt_probe_off"
                runs = []
                for _ in range(max(1, args.repeat)):
                    runs.append(run_check(lab, listing, args.concurrency, probe, args.timeout))
                    print(f"{key}: {runs[-1]}", flush=True)
                results[key] = min(runs, key=lambda run: run["seconds"])
                results[key]["all_seconds"] = [round(run["seconds"], 2) for run in runs]
            reference = None
            if not args.no_checkdmarc:
                sample = domains[: args.checkdmarc_domains or len(domains)]
                reference = run_checkdmarc(lab.info, sample)
                results["checkdmarc"] = reference
                print(
                    f"checkdmarc: {reference or 'not installed (pip install checkdmarc)'}",
                    flush=True,
                )
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
