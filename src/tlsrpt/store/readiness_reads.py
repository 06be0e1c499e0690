"""What the readiness verdict (`tlsrpt.analysis.readiness`) reads, for one
domain or many at once, as of a UTC day:

- the latest blocking sts failure of all stored history: one grouped
  range of the `daily_rollups` key per domain (domain, `sts`, result
  types), then the receiving MX hosts of that day from the failure
  details' covering index;
- the first and last day of sts reports (`domain_days`, level `sts`: a
  row per day, not per organization);
- the sts sessions of the clean stretch, whose start differs per domain:
  one key range per domain from its own start, summed by the database;
- the DANE and no-policy lines over the last `side_days`;
- the latest watcher snapshots (`watch_snapshots`, newest `SNAPSHOTS` per
  domain): the live check and the last policy or MX change;
- the sts policy senders reported last (`policy_results.policy_strings`).

Each read is one statement per chunk of domains (`tlsrpt.store.keyed.chunks`), of one
bound parameter (the names, or the (domain, day) pairs a read starts from,
`tlsrpt.store.keyed`): a page of 50 domains costs a handful of statements,
every domain's verdict a few per 400 domains.

`readiness(conn, names, today)` gives every verdict; `domain_readiness`
one. Both run the same queries, so a list and a detail agree.
`domain_inputs(conn, domain, today)` gathers the inputs of the pure
`domain_verdict` for one domain (its `.verdict()` is the same verdict).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.analysis.enforce_policy import ReportedPolicy, reported_policy
from tlsrpt.analysis.evidence import (
    NO_POLICY,
    NON_BLOCKING_TYPES,
    STS,
    TLSA,
    LastFailure,
    ReportEvidence,
    StsEvidence,
    clean_start,
    evidence_window,
    ranked_reporters,
    side_line,
    side_period,
)
from tlsrpt.analysis.live import LiveCheck, SetupChange, last_change
from tlsrpt.analysis.period import Period, RollupRow
from tlsrpt.analysis.readiness import Readiness, ReadinessConfig, decide, domain_verdict
from tlsrpt.store.alert_reads import any_of
from tlsrpt.store.keyed import chunks, keyed_days
from tlsrpt.store.schema import (
    ALL,
    daily_rollups,
    domain_days,
    failure_details,
    policy_results,
    watch_snapshots,
)

SNAPSHOTS = 24  # latest snapshot rows per domain read for the last change

_R = daily_rollups.c
_D = domain_days.c


def last_blocking_failures(
    conn: Connection, names: Sequence[str], today: dt.date
) -> dict[str, LastFailure]:
    """Per domain, the latest day (up to today) with failed sessions of a
    type enforce would have lost under an sts policy, with those types and
    the receiving MX hosts the failure details of that day name."""
    last: dict[str, dt.date] = {}
    types: dict[str, set[str]] = {}
    for chunk in chunks(conn, names):
        query = (
            sa.select(_R.domain, _R.result_type, sa.func.max(_R.day))
            .where(
                any_of(conn, _R.domain, chunk),
                _R.policy_type == STS,
                _R.result_type > ALL,  # a key range: ALL ('') sorts first
                _R.result_type.not_in(NON_BLOCKING_TYPES),
                _R.failed_sessions > 0,
                _R.day <= today,
            )
            .group_by(_R.domain, _R.result_type)
        )
        for domain, result_type, day in conn.execute(query):
            if domain not in last or day > last[domain]:
                last[domain], types[domain] = day, {result_type}
            elif day == last[domain]:
                types[domain].add(result_type)
    hosts = _failure_hosts(conn, list(last.items()))
    return {
        d: LastFailure(day, tuple(sorted(types[d])), tuple(sorted(hosts.get(d, ()))))
        for d, day in last.items()
    }


def _failure_hosts(conn: Connection, days: list[tuple[str, dt.date]]) -> dict[str, set[str]]:
    f, p = failure_details.c, policy_results.c
    out: dict[str, set[str]] = {}
    for chunk in chunks(conn, days):
        k = keyed_days(conn, chunk)
        query = (
            sa.select(f.domain, f.receiving_mx_hostname)
            .select_from(k)
            .join(failure_details, sa.and_(f.domain == k.c.domain, f.day == k.c.day))
            .join(
                policy_results,
                sa.and_(p.report_pk == f.report_pk, p.ordinal == f.policy_ordinal),
            )
            .where(
                f.result_type.not_in(NON_BLOCKING_TYPES),
                f.receiving_mx_hostname.is_not(None),
                p.policy_type == STS,
            )
            .distinct()
        )
        for domain, host in conn.execute(query):
            out.setdefault(domain, set()).add(host)
    return out


def sts_report_days(
    conn: Connection, names: Sequence[str], today: dt.date
) -> dict[str, tuple[dt.date, dt.date]]:
    """Per domain, the first and the last day (up to today) of sts reports
    (`domain_days` has a row for each day a domain has rows of the level)."""
    out: dict[str, tuple[dt.date, dt.date]] = {}
    for chunk in chunks(conn, names):
        query = (
            sa.select(_D.domain, sa.func.min(_D.day), sa.func.max(_D.day))
            .where(_D.policy_type == STS, any_of(conn, _D.domain, chunk), _D.day <= today)
            .group_by(_D.domain)
        )
        out.update({d: (_day(first), _day(last)) for d, first, last in conn.execute(query)})
    return out


def sts_evidence(conn: Connection, windows: dict[str, Period]) -> dict[str, StsEvidence]:
    """The sts sessions of each domain over its own window (all ending on the
    same day): per organization (sessions, last day) and the days with
    reports, summed by the database."""
    orgs: dict[str, list[tuple[str, int, dt.date]]] = {}
    totals: dict[str, tuple[int, int, int]] = {}
    ends = {w.end for w in windows.values()}
    assert len(ends) <= 1, "windows end on the same day"
    starts = [(domain, window.start) for domain, window in sorted(windows.items())]
    for chunk in chunks(conn, starts):
        k = keyed_days(conn, chunk)
        end = windows[chunk[0][0]].end
        sums = (sa.func.sum(_R.successful_sessions), sa.func.sum(_R.failed_sessions))
        per_org = (
            sa.select(_R.domain, _R.organization, *sums, sa.func.max(_R.day))
            .select_from(k)
            .join(daily_rollups, sa.and_(_R.domain == k.c.domain, _R.day >= k.c.day))
            .where(_R.policy_type == STS, _R.result_type == ALL, _R.day <= end)
            .group_by(_R.domain, _R.organization)
        )
        # daily_rollups, whose key starts with the domain: from domain_days
        # (key: policy type, domain) SQLite scanned the level, probing the
        # pairs for each of its rows
        per_domain = (
            sa.select(_R.domain, sa.func.count(sa.distinct(_R.day)))
            .select_from(k)
            .join(daily_rollups, sa.and_(_R.domain == k.c.domain, _R.day >= k.c.day))
            .where(_R.policy_type == STS, _R.result_type == ALL, _R.day <= end)
            .group_by(_R.domain)
        )
        for domain, org, ok, failed, last in conn.execute(per_org):
            orgs.setdefault(domain, []).append((org, int(ok) + int(failed), _day(last)))
            done = totals.get(domain, (0, 0, 0))
            totals[domain] = (done[0] + int(ok), done[1] + int(failed), done[2])
        for domain, days in conn.execute(per_domain):
            done = totals.get(domain, (0, 0, 0))
            totals[domain] = (done[0], done[1], int(days))
    return {
        domain: StsEvidence(
            window,
            *totals.get(domain, (0, 0, 0)),
            ranked_reporters(orgs.get(domain, [])),
        )
        for domain, window in windows.items()
    }


def _day(value: Any) -> dt.date:
    """A day from a UNION result (SQLite may hand back its text form)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def side_sums(
    conn: Connection, names: Sequence[str], period: Period
) -> dict[str, list[tuple[str, str, int, int]]]:
    """Per domain, (policy type, result type, successful, failed) of the DANE
    and no-policy levels over the period."""
    out: dict[str, list[tuple[str, str, int, int]]] = {}
    for chunk in chunks(conn, names):
        query = (
            sa.select(
                _R.domain,
                _R.policy_type,
                _R.result_type,
                sa.func.sum(_R.successful_sessions),
                sa.func.sum(_R.failed_sessions),
            )
            .where(
                any_of(conn, _R.domain, chunk),
                _R.policy_type.in_((TLSA, NO_POLICY)),
                _R.day >= period.start,
                _R.day <= period.end,
            )
            .group_by(_R.domain, _R.policy_type, _R.result_type)
        )
        for domain, ptype, rtype, ok, failed in conn.execute(query):
            out.setdefault(domain, []).append((ptype, rtype, int(ok), int(failed)))
    return out


@dataclass(frozen=True, slots=True)
class WatchState:
    check: LiveCheck | None
    change: SetupChange | None


def watch_states(
    conn: Connection, names: Sequence[str], today: dt.date, limit: int = SNAPSHOTS
) -> dict[str, WatchState]:
    """Per domain, its latest snapshot seen up to the end of `today` and the
    last policy or MX change among its `limit` latest snapshot rows."""
    n = watch_snapshots.c
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time())
    rows: dict[str, list[Any]] = {}
    for chunk in chunks(conn, names):
        rank = sa.func.row_number().over(partition_by=n.domain, order_by=n.id.desc())
        ranked = (
            sa.select(n.domain, n.id, n.snapshot, n.first_seen_at, n.last_seen_at, rank.label("r"))
            .where(any_of(conn, n.domain, chunk), n.first_seen_at < end)
            .subquery()
        )
        query = sa.select(ranked).where(ranked.c.r <= limit).order_by(ranked.c.domain, ranked.c.id)
        for row in conn.execute(query):
            rows.setdefault(row.domain, []).append(row)
    out: dict[str, WatchState] = {}
    for domain, found in rows.items():
        states = [(_utc(r.first_seen_at), orjson.loads(r.snapshot)) for r in found]
        latest = found[-1]
        seen = min(_utc(latest.last_seen_at), _utc(end) - dt.timedelta(seconds=1))
        out[domain] = WatchState(LiveCheck(states[-1][1], seen), last_change(states))
    return out


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC)


def reported_policies(
    conn: Connection, last_days: Iterable[tuple[str, dt.date]]
) -> dict[str, ReportedPolicy]:
    """Per domain, the sts policy most reports of its last sts day name."""
    p = policy_results.c
    counts: dict[str, Counter[tuple[dt.date, str]]] = {}
    for chunk in chunks(conn, list(last_days)):
        k = keyed_days(conn, chunk)
        query = (
            sa.select(p.domain, p.day, p.policy_strings)
            .select_from(k)
            .join(policy_results, sa.and_(p.domain == k.c.domain, p.day == k.c.day))
            .where(p.policy_type == STS)
        )
        for domain, found_day, strings in conn.execute(query):
            counts.setdefault(domain, Counter())[(_day(found_day), strings)] += 1
    out: dict[str, ReportedPolicy] = {}
    for domain, seen in counts.items():
        (day, strings), _ = max(seen.items(), key=lambda kv: (kv[1], kv[0][1]))
        try:
            lines = orjson.loads(strings)
        except orjson.JSONDecodeError:
            continue
        policy = reported_policy(day, lines) if isinstance(lines, list) else None
        if policy is not None:
            out[domain] = policy
    return out


def readiness(
    conn: Connection,
    names: Sequence[str],
    today: dt.date,
    config: ReadinessConfig | None = None,
) -> dict[str, Readiness]:
    """The verdict of every domain of `names` as of `today`."""
    config = config or ReadinessConfig()
    names = sorted(set(names))
    if not names:
        return {}
    failures = last_blocking_failures(conn, names, today)
    report_days = sts_report_days(conn, names, today)
    watched = watch_states(conn, names, today)
    starts: dict[str, dt.date | None] = {}
    windows: dict[str, Period] = {}
    for name in names:
        failure, state = failures.get(name), watched.get(name)
        first = report_days[name][0] if name in report_days else None
        change = state.change.day if state and state.change else None
        starts[name] = clean_start(first, failure.day if failure else None, change)
        window = evidence_window(starts[name], today, config.evidence_days)
        if window is not None:
            windows[name] = window
    evidence = sts_evidence(conn, windows)
    side = side_period(today, config.side_days)
    sums = side_sums(conn, names, side)
    reported = reported_policies(conn, ((d, last) for d, (_, last) in report_days.items()))
    out: dict[str, Readiness] = {}
    for name in names:
        state = watched.get(name, WatchState(None, None))
        found = ReportEvidence(
            report_days[name][0] if name in report_days else None,
            failures.get(name),
            starts[name],
            evidence.get(name, StsEvidence(None)),
            side_line(TLSA, side, sums.get(name, [])),
            side_line(NO_POLICY, side, sums.get(name, [])),
        )
        out[name] = decide(
            name, found, today, state.change, state.check, reported.get(name), config
        )
    return out


def domain_readiness(
    conn: Connection, domain: str, today: dt.date, config: ReadinessConfig | None = None
) -> Readiness:
    """The verdict of one domain as of `today` (what `mtasts promote` asks)."""
    return readiness(conn, [domain], today, config)[domain]


@dataclass(frozen=True, slots=True)
class DomainInputs:
    """What `tlsrpt.analysis.readiness.domain_verdict` takes for one domain."""

    domain: str
    today: dt.date
    rollups: list[RollupRow]
    last_failure: LastFailure | None
    last_change: SetupChange | None
    check: LiveCheck | None
    reported: ReportedPolicy | None

    def verdict(self, config: ReadinessConfig | None = None) -> Readiness:
        return domain_verdict(
            self.domain,
            self.rollups,
            self.last_failure,
            self.last_change,
            self.check,
            self.today,
            config,
            self.reported,
        )


def domain_inputs(
    conn: Connection, domain: str, today: dt.date, config: ReadinessConfig | None = None
) -> DomainInputs:
    """The inputs of the pure verdict for one domain: its roll-up rows of the
    sts, DANE and no-policy levels from its first sts report (or the DANE
    line's first day) to today, the last blocking failure with its MX hosts,
    the last change and latest check of the watcher, the reported policy."""
    config = config or ReadinessConfig()
    days = sts_report_days(conn, [domain], today)
    side = side_period(today, config.side_days)
    first = min(days[domain][0], side.start) if domain in days else side.start
    rows = conn.execute(
        sa.select(daily_rollups).where(
            _R.domain == domain,
            _R.policy_type.in_((STS, TLSA, NO_POLICY)),
            _R.day >= first,
            _R.day <= today,
        )
    )
    state = watch_states(conn, [domain], today).get(domain, WatchState(None, None))
    last = [(domain, days[domain][1])] if domain in days else []
    return DomainInputs(
        domain,
        today,
        [RollupRow(*row) for row in rows],
        last_blocking_failures(conn, [domain], today).get(domain),
        state.change,
        state.check,
        reported_policies(conn, last).get(domain),
    )
