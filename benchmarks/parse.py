"""Report parsing throughput, as ratios against references in the same run.

    .venv/bin/python benchmarks/parse.py [--reports 20000] [--emails 2000]

Reports are built from the fixtures under tests/fixtures/reports in two mixes:
"senders", in the shares the reporting organizations have among the 28 real
reports of ../shared/corpus/real (Google 13, Microsoft 9, Mail.ru 3, three
smaller senders) — the traffic a receiver sees —, and "every fixture alike",
which gives each deliberately quirky test fixture (numbers as strings, prose
keys, unregistered types, ...) the same weight as Google: a worst case.

References: `json.loads` and `orjson.loads` (+ gunzip for gzip inputs) on the
same bytes — the limit of any parser that also validates — and parsedmarc's
`parse_smtp_tls_report_json` and `parse_report_email` when parsedmarc is
importable (benchmark environment only: `pip install parsedmarc`; it is not a
dependency of tlsrpt). Targets: validated JSON parse >= 2.5x
parsedmarc and >= 0.5x orjson.loads; e-mail extraction >= 10x parsedmarc.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import gzip
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from tlsrpt.report import ReportError, parse_message, parse_report
from tlsrpt.report.compose import compose_message

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "reports"
SKIP = {"hostile-strings.json"}
# Fixture -> weight: who sent the real reports of ../shared/corpus/real.
SENDERS = {
    "google-sts-success.json": 10,  # Google 13: success-only reports, and
    "conformant-minimal.json": 2,  # reports with failure rows
    "all-result-types.json": 1,
    "microsoft-sts-tlsa.json": 3,  # Microsoft 9
    "microsoft-no-offset.json": 3,
    "microsoft-fetch-error.json": 3,
    "mailru-fetch-error.json": 3,  # Mail.ru 3
    "contact-null.json": 2,  # refluxstop.de, mx.egressif.io: contact-info null
    "postfix-no-policy-domain.json": 1,  # sonne.floppy.org
}


def load_fixtures() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(FIXTURES.glob("*.json")):
        if path.name not in SKIP:
            docs[path.name] = json.loads(path.read_bytes().lstrip(b"\xef\xbb\xbf"))
    return docs


def mixes(fixtures: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each mix as a cycle of fixtures, in proportion to their weights."""
    return {
        "senders": [fixtures[name] for name, n in SENDERS.items() for _ in range(n)],
        "every fixture alike": list(fixtures.values()),
    }


def vary(doc: dict[str, Any], i: int, rng: random.Random, max_extra_rows: int) -> dict[str, Any]:
    """A new report from a fixture: new id, counts, IPs, and 0..max_extra_rows
    more copies of its first failure row, keeping the fixture's quirks."""
    out = json.loads(json.dumps(doc))
    out["report-id"] = f"{out['report-id']}-{i}"
    for p in out["policies"]:
        summary = p["summary"]
        if isinstance(summary.get("total-successful-session-count"), int):
            summary["total-successful-session-count"] = rng.randint(0, 100_000)
        details = p.get("failure-details")
        if details:
            extra = [dict(details[0]) for _ in range(rng.randint(0, max_extra_rows))]
            for k, d in enumerate(extra):
                if "sending-mta-ip" in d:
                    d["sending-mta-ip"] = f"192.0.2.{(i + k) % 250 + 1}"
            p["failure-details"] = details + extra
    return out


def race(
    contenders: dict[str, Callable[[Any], Any]], items: Sequence[Any], rounds: int = 5
) -> dict[str, float]:
    """Each contender's best time over `items`. The contenders take turns,
    round after round, so that a slow spell of the machine hits all alike."""
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, fn in contenders.items():
            gc.collect()
            start = time.perf_counter()
            for item in items:
                fn(item)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def row(name: str, seconds: float, count: int, nbytes: int, ref: float | None = None) -> None:
    rate = count / seconds
    ratio = f"{ref / seconds:6.2f}x" if ref else "       "
    print(f"  {name:<44} {rate:>10,.0f} reports/s {nbytes / seconds / 1e6:8.1f} MB/s  {ratio}")


def strict(data: bytes) -> None:
    # quirky fixtures are rejected in strict mode: that is the work measured
    with contextlib.suppress(ReportError):
        parse_report(data, strict=True)


def accepts(parse: Callable[[bytes], Any]) -> Callable[[bytes], bool]:
    """`parse` made total: False where it raises (parsedmarc rejects several
    real-world quirks; the refusals are counted in a pass of their own)."""

    def call(data: bytes) -> bool:
        try:
            parse(data)
        except Exception:
            return False
        return True

    return call


def gunzip_orjson(data: bytes) -> Any:
    return orjson.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", type=int, default=20_000)
    ap.add_argument("--emails", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=8460)
    ap.add_argument(
        "--extra-rows",
        type=int,
        default=3,
        help="copies of a failure row added per report, 0..N (real reports carry a few)",
    )
    args = ap.parse_args()
    try:
        import parsedmarc  # type: ignore[import-not-found]
    except ImportError:
        parsedmarc = None
    print(f"python {sys.version.split()[0]}")
    for name, cycle in mixes(load_fixtures()).items():
        rng = random.Random(args.seed)
        docs = [vary(cycle[i % len(cycle)], i, rng, args.extra_rows) for i in range(args.reports)]
        plain = [json.dumps(d).encode() for d in docs]
        emails = [_email(plain[i % len(plain)]) for i in range(args.emails)]
        print(f"\n== mix: {name} ==")
        measure(plain, emails, parsedmarc)


def _email(report_json: bytes) -> bytes:
    msg = compose_message(
        parse_report(report_json).report,
        submitter="sender.example",
        from_address="tlsrpt@sender.example",
        to_address="tls@example.org",
        gzip=True,
    )
    return msg.as_bytes()


def measure(plain: list[bytes], emails: list[bytes], parsedmarc: Any) -> None:
    half = len(plain) // 2
    gz = [gzip.compress(p, mtime=0) for p in plain[half:]]
    mixed = plain[:half] + gz
    print(f"{len(plain)} reports ({half} JSON, {len(gz)} gzip), {len(emails)} e-mails")
    json_bytes = sum(map(len, plain[:half]))
    all_bytes = sum(map(len, mixed))

    print("JSON reports (uncompressed half):")
    json_part = plain[:half]
    contenders: dict[str, Callable[[Any], Any]] = {
        "orjson.loads (no validation)": orjson.loads,
        "json.loads (no validation)": json.loads,
        "tlsrpt parse_report, lenient": parse_report,
        "tlsrpt parse_report, strict": strict,
    }
    if parsedmarc is not None:
        # Both behind the same wrapper: parsedmarc raises on some inputs.
        pm_json = accepts(parsedmarc.parse_smtp_tls_report_json)
        contenders["tlsrpt parse_report, lenient, wrapped"] = accepts(parse_report)
        contenders["parsedmarc parse_smtp_tls_report_json, wrapped"] = pm_json
    t = race(contenders, json_part)
    t_orjson, t_ours = t["orjson.loads (no validation)"], t["tlsrpt parse_report, lenient"]
    for name, seconds in t.items():
        vs_orjson = name.startswith("tlsrpt") and not name.endswith("wrapped")
        row(name, seconds, half, json_bytes, t_orjson if vs_orjson else None)
    if parsedmarc is not None:
        rejected = sum(not pm_json(d) for d in json_part)
        print(f"  (parsedmarc rejected {rejected} of {half} reports that tlsrpt accepts)")
        t_pm = t["parsedmarc parse_smtp_tls_report_json, wrapped"]
        t_wrapped = t["tlsrpt parse_report, lenient, wrapped"]
        print(
            f"  => tlsrpt lenient is {t_pm / t_wrapped:.2f}x parsedmarc, "
            f"{t_orjson / t_ours:.2f}x orjson.loads"
        )
    else:
        print("  parsedmarc not installed: `pip install parsedmarc` to compare")

    print("All reports (JSON + gzip):")
    t = race({"ref": gunzip_orjson, "ours": parse_report}, mixed)
    row("gunzip + orjson.loads (no validation)", t["ref"], len(mixed), all_bytes)
    row("tlsrpt parse_report, lenient (vs ref)", t["ours"], len(mixed), all_bytes, t["ref"])

    print("E-mail messages:")
    mail_bytes = sum(map(len, emails))
    mail: dict[str, Callable[[Any], Any]] = {"tlsrpt parse_message": parse_message}
    if parsedmarc is not None:
        pm_email = accepts(functools.partial(parsedmarc.parse_report_email, offline=True))
        mail["parsedmarc parse_report_email (offline)"] = pm_email
    t = race(mail, emails, rounds=3)
    for name, seconds in t.items():
        row(name, seconds, len(emails), mail_bytes)
    if parsedmarc is not None:
        mail_rejected = sum(not pm_email(d) for d in emails)
        print(f"  (parsedmarc rejected {mail_rejected} of {len(emails)} messages)")
        ratio = t["parsedmarc parse_report_email (offline)"] / t["tlsrpt parse_message"]
        print(f"  => tlsrpt e-mail extraction is {ratio:.2f}x parsedmarc")


if __name__ == "__main__":
    main()
