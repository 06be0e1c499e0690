"""`analyze_totals` (rows the database summed) equals `analyze` (raw
roll-up rows) whenever the sums are taken the way the store's overview
query takes them."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tlsrpt.analysis.period import (
    ALL,
    DayTotal,
    Period,
    Reporter,
    ReporterTotal,
    ResultTotal,
    RollupRow,
    analyze,
    analyze_totals,
)

START = date(2026, 1, 1)
PERIOD = Period(START, START + timedelta(days=6))

rows = st.lists(
    st.builds(
        RollupRow,
        domain=st.sampled_from(["a.example", "b.example"]),
        day=st.integers(-2, 9).map(lambda n: START + timedelta(days=n)),
        organization=st.sampled_from(["Google Inc.", "Microsoft Corporation", "Small ISP"]),
        policy_type=st.sampled_from([ALL, "sts", "tlsa"]),
        result_type=st.sampled_from([ALL, ALL, "certificate-expired", "validation-failure"]),
        reports=st.integers(1, 50),
        successful_sessions=st.integers(0, 10**6),
        failed_sessions=st.integers(0, 10**4),
    ),
    max_size=60,
).map(
    # One row per roll-up key, as the table's primary key guarantees.
    lambda found: list(
        {(r.domain, r.day, r.organization, r.policy_type, r.result_type): r for r in found}.values()
    )
)


def summed(
    rollups: list[RollupRow],
) -> tuple[list[DayTotal], list[ReporterTotal], list[ResultTotal]]:
    """What the overview's three GROUP BY queries return."""
    inside = [r for r in rollups if r.day in PERIOD]
    top = [r for r in inside if r.policy_type == ALL and r.result_type == ALL]
    days: dict[tuple[str, date], list[int]] = {}
    orgs: dict[tuple[str, str], list[RollupRow]] = {}
    results: dict[tuple[str, str], int] = {}
    for r in top:
        c = days.setdefault((r.domain, r.day), [0, 0, 0])
        c[0] += r.reports
        c[1] += r.successful_sessions
        c[2] += r.failed_sessions
        orgs.setdefault((r.domain, r.organization), []).append(r)
    for r in inside:
        if r.result_type != ALL:
            results[(r.domain, r.result_type)] = (
                results.get((r.domain, r.result_type), 0) + r.failed_sessions
            )
    return (
        [DayTotal(d, day, *c) for (d, day), c in days.items()],
        [
            ReporterTotal(
                d,
                Reporter(
                    org,
                    sum(r.reports for r in rs),
                    sum(r.successful_sessions for r in rs),
                    sum(r.failed_sessions for r in rs),
                    min(r.day for r in rs),
                    max(r.day for r in rs),
                ),
            )
            for (d, org), rs in orgs.items()
        ],
        [ResultTotal(d, t, n) for (d, t), n in results.items()],
    )


@given(rows)
def test_totals_give_the_same_analysis(rollups: list[RollupRow]) -> None:
    days, reporters, results = summed(rollups)
    names = ["a.example", "b.example", "registered.example"]
    assert analyze_totals(PERIOD, days, reporters, results, domains=names) == analyze(
        PERIOD, rollups, domains=names
    )
