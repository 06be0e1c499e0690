"""A realistic generated dataset for trying the dashboard (`tlsrpt demo`,
`tlsrpt serve --demo`).

`demo_reports(end, days, seed)` is pure: RFC 8460 reports (the
`tlsrpt.report` model) from several senders for several policy domains
over `days` UTC days ending on `end`, each domain with its own story:

- example.com: clean for the whole period, reported by Google, Microsoft
  and Yahoo — ready for `enforce`;
- shop.example.net: its second MX serves an expired certificate from 20
  days before `end`, one sending IP sees no STARTTLS, and the policy fetch
  fails on a few days — not ready;
- mail.example.org: an MX outside the policy's `mx:` patterns
  (validation-failure) until 25 days before `end`, then fixed;
- new.example.io: reports on the last 6 days only, from one small sender —
  insufficient data;
- legacy.example.de: a DANE (tlsa) domain that Mail.ru stopped reporting on
  halfway through the period.

`load_demo(store, ...)` feeds them, as JSON bytes, through the real ingest
pipeline, plus one input that is quarantined (a truncated report), and
registers the domains.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tlsrpt.ingest.model import IngestResult, RawInput, SourceInfo
from tlsrpt.ingest.pipeline import ingest_batch
from tlsrpt.report.model import (
    DateRange,
    FailureDetail,
    Policy,
    PolicyResult,
    Report,
    Summary,
)
from tlsrpt.report.serialize import to_json
from tlsrpt.store.engine import Store
from tlsrpt.store.users import add_domain

DEMO_DOMAINS = (
    "example.com",
    "shop.example.net",
    "mail.example.org",
    "new.example.io",
    "legacy.example.de",
)


@dataclass(frozen=True, slots=True)
class Sender:
    organization: str
    contact: str
    ips: tuple[str, ...]
    volume: int  # typical sessions per day per domain


GOOGLE = Sender(
    "Google Inc.", "smtp-tls-reporting@google.com", ("209.85.220.41", "209.85.220.69"), 900
)
MICROSOFT = Sender(
    "Microsoft Corporation", "tlsrpt-noreply@microsoft.com", ("40.107.22.52", "52.101.68.11"), 400
)
YAHOO = Sender("Yahoo", "tlsrpt@yahooinc.com", ("98.137.65.34",), 120)
MAILRU = Sender("Mail.Ru", "tlsrpt@mail.ru", ("94.100.180.200",), 60)
SMALL = Sender("mx.example-isp.net", "postmaster@example-isp.net", ("192.0.2.25",), 15)


def demo_policy(domain: str, policy_type: str = "sts") -> Policy:
    if policy_type == "tlsa":
        return Policy(
            "tlsa",
            ["3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"],
            domain,
            [],
        )
    return Policy(
        "sts",
        [
            "version: STSv1",
            "mode: testing",
            f"mx: mx1.{domain}",
            f"mx: mx2.{domain}",
            "max_age: 604800",
        ],
        domain,
        [f"mx1.{domain}", f"mx2.{domain}"],
    )


def _failures(
    domain: str, sender: Sender, day_index: int, days: int, rng: random.Random
) -> list[FailureDetail]:
    """The failures of one domain's report from one sender on one day
    (`day_index` 0 = first day, days - 1 = `end`)."""
    from_end = days - 1 - day_index
    out: list[FailureDetail] = []
    if domain == "shop.example.net":
        if from_end < 20:
            out.append(
                FailureDetail(
                    "certificate-expired",
                    max(1, sender.volume // 30 + rng.randint(0, 3)),
                    rng.choice(sender.ips),
                    f"mx2.{domain}",
                    f"mx2.{domain}",
                    "203.0.113.12",
                    None,
                    "X509_V_ERR_CERT_HAS_EXPIRED",
                )
            )
        if sender is MICROSOFT and day_index % 3 == 0:
            out.append(
                FailureDetail(
                    "starttls-not-supported",
                    rng.randint(2, 6),
                    sender.ips[0],
                    f"mx1.{domain}",
                    None,
                    "203.0.113.11",
                )
            )
        if sender is GOOGLE and day_index % 11 == 4:
            out.append(
                FailureDetail(
                    "sts-policy-fetch-error", rng.randint(5, 20), failure_reason_code="HTTP 503"
                )
            )
    elif domain == "mail.example.org" and from_end >= 25 and sender is not YAHOO:
        out.append(outside_policy(rng.randint(3, 12), rng.choice(sender.ips)))
    return out


def outside_policy(count: int, ip: str) -> FailureDetail:
    """Failures to an MX the policy's `mx:` patterns do not cover."""
    return FailureDetail(
        "validation-failure",
        count,
        ip,
        "mx-backup.hosting.example",
        "mx-backup.hosting.example",
        "198.51.100.7",
        None,
        "mx not covered by policy",
    )


def _senders(domain: str, day_index: int, days: int) -> list[Sender]:
    from_end = days - 1 - day_index
    if domain == "example.com":
        return [GOOGLE, MICROSOFT, YAHOO]
    if domain == "shop.example.net":
        return [GOOGLE, MICROSOFT, SMALL]
    if domain == "mail.example.org":
        return [GOOGLE, MICROSOFT, YAHOO]
    if domain == "new.example.io":
        return [SMALL] if from_end < 6 else []
    if domain == "legacy.example.de":
        return [GOOGLE, MAILRU] if from_end >= days // 2 else [GOOGLE]
    raise ValueError(domain)


def demo_reports(end: date, days: int = 60, seed: int = 8460) -> list[Report]:
    """The demo reports, one per (domain, sender, day) that reported."""
    rng = random.Random(seed)
    start = end - timedelta(days=days - 1)
    out: list[Report] = []
    for day_index in range(days):
        day = start + timedelta(days=day_index)
        begins = datetime.combine(day, time(0, 0), UTC)
        for domain in DEMO_DOMAINS:
            for sender in _senders(domain, day_index, days):
                failures = _failures(domain, sender, day_index, days, rng)
                failed = sum(f.failed_session_count for f in failures)
                weekend = 0.6 if day.weekday() >= 5 else 1.0
                successful = int(sender.volume * weekend * rng.uniform(0.8, 1.2))
                policy_type = "tlsa" if domain == "legacy.example.de" else "sts"
                out.append(
                    Report(
                        organization_name=sender.organization,
                        date_range=DateRange(begins, begins + timedelta(days=1, seconds=-1)),
                        contact_info=sender.contact,
                        report_id=f"{day.isoformat()}T00:00:00Z_{domain}_{sender.organization}",
                        policies=[
                            PolicyResult(
                                demo_policy(domain, policy_type),
                                Summary(successful, failed),
                                failures,
                            )
                        ],
                    )
                )
    return out


# A report cut short in transit: the pipeline quarantines it, and the
# quarantine view shows it.
TRUNCATED = b'{"organization-name": "Broken Sender", "date-range": {"start-datetime": "20'


def load_demo(
    store: Store, end: date | None = None, days: int = 60, seed: int = 8460
) -> list[IngestResult]:
    """Ingest the demo reports (as received the day after each one) and
    register the demo domains."""
    end = end or datetime.now(UTC).date()
    inputs = [
        RawInput(
            to_json(report),
            SourceInfo(
                "demo",
                f"tlsrpt demo ({report.organization_name})",
                "application/tlsrpt+json",
                received_at=report.date_range.end_datetime + timedelta(hours=3),
            ),
        )
        for report in demo_reports(end, days, seed)
    ]
    inputs.append(RawInput(TRUNCATED, SourceInfo("demo", "tlsrpt demo (truncated upload)")))
    results = ingest_batch(store, inputs)
    with store.write() as conn:
        for domain in DEMO_DOMAINS:
            add_domain(conn, domain)
    return results
