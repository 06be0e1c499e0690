"""A hosting provider's generated data set (`tlsrpt demo --domains N`):
N customer domains over D UTC days, reported by the large senders with
volumes that differ per domain, with the problems such a provider sees.

`provider_reports(names, days, end, seed)` is pure: RFC 8460 reports (the
`tlsrpt.report` model), one per (domain, sender, day) that reported, day by
day. Each domain draws its size (sessions scale log-normally), its senders
(Google always; Microsoft, Yahoo, Mail.ru and a small ISP often) and its
story:

- most are clean (ready for `enforce` once reported long enough);
- some serve an expired certificate on their second MX from a day on;
- some see a sender without STARTTLS on one MX now and then;
- some had an MX outside the policy's `mx:` patterns, fixed on a day;
- some publish DANE (tlsa) rather than MTA-STS;
- some are new: reports on the last few days only.

`load_provider` writes them in bulk, a day of reports per transaction, with
the ingest code (`tlsrpt.ingest.rows.build_rows`, the store's writer): the
same rows and roll-ups as ingest would store, without parsing, then has
PostgreSQL's planner statistics refreshed (`Store.refresh_statistics`). The raw
input bytes of generated reports are not kept: the reports of a day share
one stand-in raw input (its bytes a note saying so).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tlsrpt.demo import (
    GOOGLE,
    MAILRU,
    MICROSOFT,
    SMALL,
    YAHOO,
    Sender,
    demo_policy,
    outside_policy,
)
from tlsrpt.ingest.rows import build_rows
from tlsrpt.report import ParsedReport
from tlsrpt.report.model import DateRange, FailureDetail, PolicyResult, Report, Summary
from tlsrpt.store import writer
from tlsrpt.store.accounts import domains
from tlsrpt.store.engine import Store
from tlsrpt.store.rows import RawInputRow, ReportOrigin, RollupKey
from tlsrpt.store.schema import (
    daily_rollups,
    domain_days,
    failure_details,
    policy_results,
    raw_inputs,
    reported_domains,
    reports,
)
from tlsrpt.store.users import add_domain

# (sender, probability a domain is reported by it)
SENDERS: tuple[tuple[Sender, float], ...] = (
    (GOOGLE, 1.0),
    (MICROSOFT, 0.9),
    (YAHOO, 0.6),
    (MAILRU, 0.2),
    (SMALL, 0.6),
)
STORIES = ("clean", "expired", "starttls", "mx-fixed", "dane", "new")
STORY_WEIGHTS = (70, 8, 6, 6, 5, 5)
_WORDS = (
    "alpine", "bakery", "cedar", "dental", "harbor", "lumen", "maple", "nordic",
    "orchard", "pixel", "quarry", "river", "summit", "tandem", "urban", "velvet",
)  # fmt: skip
_TLDS = ("example", "example.com", "example.net", "example.org", "example.de")
# the tables a fill writes: their statistics are refreshed after it
FILLED = [raw_inputs, reports, policy_results, failure_details, daily_rollups, domain_days]
FILLED += [reported_domains, domains]
NOTE = b'{"note": "tlsrpt demo --domains: a generated report; its raw input is not kept"}'


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    size: float  # sessions scale of the domain
    senders: tuple[Sender, ...]
    story: str
    turn: int  # day index where the story turns (problem starts, fix, first report)


def provider_domains(count: int) -> list[str]:
    """`count` distinct customer domain names."""
    return [
        f"{_WORDS[n % len(_WORDS)]}-{n:05d}.{_TLDS[(n // len(_WORDS)) % len(_TLDS)]}"
        for n in range(count)
    ]


def profiles(names: list[str], days: int, seed: int) -> list[Profile]:
    rng = random.Random(seed)
    out = []
    for name in names:
        senders = tuple(s for s, p in SENDERS if rng.random() < p)
        story = rng.choices(STORIES, STORY_WEIGHTS)[0]
        turn = days - rng.randint(1, 6) if story == "new" else rng.randrange(days)
        size = min(50.0, math.exp(rng.gauss(-0.5, 1.0)))
        out.append(Profile(name, size, senders, story, turn))
    return out


def _failures(p: Profile, sender: Sender, i: int, rng: random.Random) -> list[FailureDetail]:
    if p.story == "expired" and i >= p.turn:
        count = max(1, int(sender.volume * p.size) // 25 + rng.randint(0, 3))
        ip = rng.choice(sender.ips)
        return [
            FailureDetail(
                "certificate-expired", count, ip, f"mx2.{p.name}", f"mx2.{p.name}", "203.0.113.12"
            )
        ]
    if p.story == "starttls" and sender is MICROSOFT and i % 4 == p.turn % 4:
        return [
            FailureDetail(
                "starttls-not-supported",
                rng.randint(1, 8),
                sender.ips[0],
                f"mx1.{p.name}",
                None,
                "203.0.113.11",
            )
        ]
    if p.story == "mx-fixed" and i < p.turn and sender is not YAHOO:
        return [outside_policy(rng.randint(2, 12), rng.choice(sender.ips))]
    return []


def provider_reports(
    people: list[Profile], days: int, end: date, seed: int, day_index: int
) -> Iterator[Report]:
    """The reports of day `day_index` (0: the first of `days` ending on `end`)."""
    rng = random.Random(seed * 1_000_003 + day_index)
    day = end - timedelta(days=days - 1 - day_index)
    begins = datetime.combine(day, time(0, 0), UTC)
    span = DateRange(begins, begins + timedelta(days=1, seconds=-1))
    weekend = 0.6 if day.weekday() >= 5 else 1.0
    for p in people:
        if p.story == "new" and day_index < p.turn:
            continue
        policy = demo_policy(p.name, "tlsa" if p.story == "dane" else "sts")
        for sender in p.senders:
            failures = _failures(p, sender, day_index, rng)
            failed = sum(f.failed_session_count for f in failures)
            ok = int(sender.volume * p.size * weekend * rng.uniform(0.8, 1.2))
            yield Report(
                organization_name=sender.organization,
                date_range=span,
                contact_info=sender.contact,
                report_id=f"{day.isoformat()}T00:00:00Z_{p.name}_{sender.organization}",
                policies=[PolicyResult(policy, Summary(ok, failed), failures)],
            )


def stand_in(store: Store, day: date) -> int:
    """A raw input for the generated reports of `day` to point at (its
    bytes a note: the generated reports' own are not kept)."""
    when = _received(day)
    with store.write() as conn:
        (raw_id,) = writer.next_ids(conn, raw_inputs, 1)
        writer.insert_raw(
            conn,
            [
                RawInputRow(
                    id=raw_id,
                    sha256=f"{raw_id:064x}",
                    size=len(NOTE),
                    codec="none",
                    data=NOTE,
                    source_kind="demo",
                    source_detail=f"tlsrpt demo --domains (generated reports of {day})",
                    content_type="application/tlsrpt+json",
                    source_meta=None,
                    received_at=when,
                    outcome="accepted",
                    kind="json",
                    reason_code=None,
                    reason=None,
                    notes=None,
                    processed_at=when,
                )
            ],
        )
    return raw_id


def load_provider(
    store: Store,
    domains: int,
    days: int,
    end: date,
    seed: int = 8460,
    progress: Callable[[int], None] = lambda _n: None,
) -> int:
    """Write the provider data set, a day per transaction; registers the
    domains. Calls `progress(reports)` after each day; returns the number
    of reports."""
    names = provider_domains(domains)
    people = profiles(names, days, seed)
    with store.write() as conn:
        for name in names:
            add_domain(conn, name)
    total = 0
    for i in range(days):
        day = end - timedelta(days=days - 1 - i)
        origin = ReportOrigin(raw_id=stand_in(store, day), received_at=_received(day))
        reports = provider_reports(people, days, end, seed, i)
        built = [build_rows(ParsedReport(r, [])) for r in reports]
        rollups: dict[RollupKey, list[int]] = {}
        for rows in built:
            for key, (n, ok, failed) in rows.rollups.items():
                c = rollups.setdefault(key, [0, 0, 0])
                c[0] += n
                c[1] += ok
                c[2] += failed
        with store.write() as conn:
            writer.insert_reports(
                conn,
                [origin] * len(built),
                [r.report for r in built],
                [r.policies for r in built],
                [r.failures for r in built],
            )
            writer.add_rollups(conn, rollups)
        total += len(built)
        progress(len(built))
    store.refresh_statistics(FILLED)
    return total


def _received(day: date) -> str:
    return writer.db_time(datetime.combine(day + timedelta(days=1), time(3, 0)))
