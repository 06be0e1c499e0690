"""Counts beyond belief and counts a database cannot hold: one input never
fails the others of its batch (the pipeline, the serve-time group commit,
`tlsrpt import`), and roll-ups stay exact integers (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tlsrpt.cli import main
from tlsrpt.ingest.group_commit import GroupCommitter
from tlsrpt.ingest.model import (
    IngestResult,
    QuarantineBudget,
    RawInput,
    SourceInfo,
    UnsignedRelease,
)
from tlsrpt.ingest.pipeline import ingest, ingest_batch, reprocess
from tlsrpt.report import DEFAULT_LIMITS, Limits
from tlsrpt.store.engine import Store
from tlsrpt.store.reads import get_raw
from tlsrpt.store.schema import ALL, daily_rollups

FILE = SourceInfo("file", "/reports/in.json")
BOUND = DEFAULT_LIMITS.max_sessions
BIGINT_MAX = 2**63 - 1
UNBOUNDED = Limits(max_sessions=2**80)  # what the database alone would get
RELEASE = UnsignedRelease("alice", datetime(2024, 3, 5, 9, 30, tzinfo=UTC), "test")


def overflowing(make: Any, report_id: str = "bad") -> bytes:
    """A valid report (every count within I-JSON) whose failure rows of one
    result type add up past 2^63."""
    rows = [make.failure(count=2**53 - 1, ip=f"192.0.2.{i % 250 + 1}") for i in range(1025)]
    return make.json(report_id, org="Overflow Org", policies=[make.policy(failed=1, failures=rows)])


def _batch(make: Any, bad: bytes, size: int = 60, at: int = 30) -> list[bytes]:
    good = [make.json(f"good-{i}") for i in range(size - 1)]
    return [*good[:at], bad, *good[at:]]


def _rollups(store: Store, domain: str = "example.com") -> list[tuple[Any, ...]]:
    r = daily_rollups
    query = sa.select(r.c.organization, r.c.reports, r.c.successful_sessions, r.c.failed_sessions)
    with store.read() as conn:
        rows = conn.execute(query.where(r.c.domain == domain, r.c.policy_type == ALL))
        return sorted(tuple(row) for row in rows)


def _submit_together(store: Store, inputs: list[bytes]) -> list[IngestResult]:
    """Every input submitted at once to one committer (one batch of the
    ingest child, as `tlsrpt serve` writes them); their results."""

    async def run() -> list[IngestResult]:
        committer = GroupCommitter(store, max_batch=64)
        await committer.start()
        try:
            http = SourceInfo("http", "127.0.0.1")
            return await asyncio.gather(*(committer.submit(RawInput(d, http)) for d in inputs))
        finally:
            await committer.close()

    return asyncio.run(run())


def _transactions(store: Store) -> Counter[Any]:
    """Raw inputs per transaction: one transaction stamps one time on all."""
    with store.read() as conn:
        return Counter(conn.exec_driver_sql("SELECT processed_at FROM raw_inputs").scalars())


def _stored_reports(store: Store) -> int:
    with store.read() as conn:
        return int(conn.exec_driver_sql("SELECT COUNT(*) FROM reports").scalar_one())


def _assert_one_refused(results: list[Any], at: int, code: str) -> None:
    outcomes = [r.outcome for r in results]
    assert Counter(outcomes) == {"accepted": len(results) - 1, "quarantined": 1}
    assert outcomes[at] == "quarantined"
    assert results[at].reason_code == code
    assert results[at].raw_id not in {r.raw_id for i, r in enumerate(results) if i != at}


def test_an_implausible_report_is_quarantined_and_the_batch_stored(store: Store, make: Any) -> None:
    results = ingest_batch(
        store, [RawInput(data, FILE) for data in _batch(make, overflowing(make))]
    )
    _assert_one_refused(results, 30, "count-implausible")
    assert "not plausible" in (results[30].reason or "")
    assert _stored_reports(store) == 59
    assert _rollups(store) == [("Example Org", 59, 590, 0)]


def test_rows_the_database_cannot_hold_fail_only_their_input(store: Store, make: Any) -> None:
    """Without the parser's bound the same report reaches the database, which
    cannot hold its roll-up (SQLite: the driver cannot bind it; PostgreSQL:
    bigint out of range): it alone is quarantined with the database's reason,
    the 59 others are stored as if it had not been there."""
    inputs = [RawInput(data, FILE) for data in _batch(make, overflowing(make))]
    results = ingest_batch(store, inputs, limits=UNBOUNDED)
    _assert_one_refused(results, 30, "database-refused")
    assert "the database refused" in (results[30].reason or "")
    assert _stored_reports(store) == 59
    assert _rollups(store) == [("Example Org", 59, 590, 0)]
    again = ingest(store, overflowing(make), FILE, limits=UNBOUNDED)  # its bytes are kept
    assert (again.outcome, again.reason_code) == ("quarantined", "same-bytes")


def _fill(store: Store, org: str, value: int) -> None:
    """The all-types roll-up rows of `org` as after ~value / BOUND reports
    at the bound (the writer lets a row reach 2^63-1)."""
    r = daily_rollups
    with store.write() as conn:
        conn.execute(
            r.update()
            .where(r.c.organization == org, r.c.result_type == ALL)
            .values(successful_sessions=value)
        )


@pytest.mark.parametrize("orgs", [1, 59])  # 59: roll-up rows enough for PostgreSQL's COPY
def test_a_roll_up_that_would_overflow_refuses_only_its_input(
    store: Store, make: Any, orgs: int
) -> None:
    """A roll-up row can hold 2^23 reports at the bound; the one report
    more is quarantined (count-overflow) instead of turning the row into a
    float (SQLite) or refusing the whole batch (PostgreSQL)."""
    assert ingest(store, make.json("first", org="Busy Org"), FILE).outcome == "accepted"
    _fill(store, "Busy Org", BIGINT_MAX - BOUND + 1)
    bad = make.json("one-more", org="Busy Org", policies=[make.policy(ok=BOUND)])
    good = [make.json(f"good-{i}", org=f"Org {i % orgs}") for i in range(59)]
    inputs = [*good[:30], bad, *good[30:]]
    results = ingest_batch(store, [RawInput(data, FILE) for data in inputs])
    _assert_one_refused(results, 30, "count-overflow")
    assert "daily successful sessions" in (results[30].reason or "")
    busy, *others = _rollups(store)
    assert busy == ("Busy Org", 1, BIGINT_MAX - BOUND + 1, 0)
    assert len(others) == orgs
    assert [sum(row[n] for row in others) for n in (1, 2, 3)] == [59, 590, 0]
    fits = make.json("fits", org="Busy Org", policies=[make.policy(ok=BOUND - 1)])
    assert ingest(store, fits, FILE).outcome == "accepted"
    assert _rollups(store)[0] == ("Busy Org", 2, BIGINT_MAX, 0)
    with store.read() as conn:  # an integer, not a float, on SQLite too
        value = conn.exec_driver_sql(
            "SELECT successful_sessions FROM daily_rollups "
            "WHERE organization = 'Busy Org' AND policy_type = '' AND result_type = ''"
        ).scalar_one()
    assert type(value) is int and value == BIGINT_MAX


def test_group_commit_answers_each_input_of_a_refused_batch(store: Store, make: Any) -> None:
    """The serve-time path: 60 inputs in one batch of the ingest child, one
    implausible and one whose roll-up would overflow: 58 stored, each of
    the two quarantined with its reason, no caller fails."""
    assert ingest(store, make.json("first", org="Busy Org"), FILE).outcome == "accepted"
    _fill(store, "Busy Org", BIGINT_MAX)
    inputs = _batch(make, overflowing(make))
    inputs[10] = make.json("one-more", org="Busy Org")
    results = _submit_together(store, inputs)
    outcomes = [r.outcome for r in results]
    assert Counter(outcomes) == {"accepted": 58, "quarantined": 2}
    assert (results[10].reason_code, results[30].reason_code) == (
        "count-overflow",
        "count-implausible",
    )
    assert _stored_reports(store) == 1 + 58
    # written in halves of the batch, not one transaction per input
    assert max(_transactions(store).values()) > 2


def test_import_stores_every_good_file_and_exits_1(
    db_url: str, tmp_path: Path, make: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    for i, data in enumerate(_batch(make, overflowing(make))):
        (inbox / f"{i:02d}.json").write_bytes(data)
    assert main(["import", str(inbox), "--db", db_url]) == 1
    out = capsys.readouterr().out
    assert f"quarantined: {inbox / '30.json'}: " in out
    assert "not plausible" in out
    assert out.splitlines()[-1] == "59 accepted, 0 duplicate, 1 quarantined"


def test_retrying_quarantined_inputs_refuses_only_the_one_that_overflows(
    store: Store, make: Any
) -> None:
    """`reprocess` (quarantine retry): a held input is released and stored,
    the one whose roll-up cannot hold it stays quarantined, with the reason."""
    assert ingest(store, make.json("first", org="Busy Org"), FILE).outcome == "accepted"
    _fill(store, "Busy Org", BIGINT_MAX)
    refused = ingest(store, make.json("one-more", org="Busy Org"), FILE)
    assert (refused.outcome, refused.reason_code) == ("quarantined", "count-overflow")
    held = ingest(store, make.json("held"), FILE, hold="no valid DKIM signature")
    assert (held.outcome, held.reason_code) == ("quarantined", "held")
    again = reprocess(store, [held.raw_id, refused.raw_id], release=RELEASE)
    assert [(r.raw_id, r.outcome) for r in again] == [
        (held.raw_id, "accepted"),
        (refused.raw_id, "quarantined"),
    ]
    assert again[0].released_unsigned
    assert again[1].reason_code == "count-overflow"
    with store.read() as conn:
        stored = get_raw(conn, refused.raw_id)
    assert stored is not None
    assert (stored["outcome"], stored["reason_code"]) == ("quarantined", "count-overflow")
    assert _stored_reports(store) == 2


def test_a_released_input_the_database_refuses_stays_held(store: Store, make: Any) -> None:
    """A held input whose release the roll-ups cannot hold is not released:
    it stays held (no release recorded), so a retry without a release
    still cannot let it in; the other input of the retry is stored."""
    assert ingest(store, make.json("first", org="Busy Org"), FILE).outcome == "accepted"
    _fill(store, "Busy Org", BIGINT_MAX)
    hold = "no valid DKIM signature"
    busy = ingest(store, make.json("held-busy", org="Busy Org"), FILE, hold=hold)
    calm = ingest(store, make.json("held-calm"), FILE, hold=hold)
    refused, released = reprocess(store, [busy.raw_id, calm.raw_id], release=RELEASE)
    assert (refused.outcome, refused.reason_code) == ("quarantined", "count-overflow")
    assert (refused.reason or "").endswith(f"still held: {hold}")
    assert not refused.released_unsigned
    assert (released.outcome, released.released_unsigned) == ("accepted", True)
    with store.read() as conn:
        stored = get_raw(conn, busy.raw_id)
    assert stored is not None
    assert (stored["outcome"], stored["reason_code"], stored["reason"]) == (
        "quarantined",
        "held",
        hold,
    )
    assert "accepted_unsigned" not in (stored["source_meta"] or "")
    (kept,) = reprocess(store, [busy.raw_id])
    assert (kept.outcome, kept.reason_code) == ("quarantined", "held")
    assert _stored_reports(store) == 2


def test_an_input_the_database_refuses_is_charged_to_its_quarantine_budget(
    store: Store, make: Any
) -> None:
    """A client's inputs the database refuses count against its quarantine
    budget like any quarantined input: with room for one, the first is
    quarantined and the second refused (not stored); the good one is stored."""
    assert ingest(store, make.json("first", org="Busy Org"), FILE).outcome == "accepted"
    _fill(store, "Busy Org", BIGINT_MAX)
    budget = QuarantineBudget("203.0.113.7", max_inputs=1, max_bytes=10**6)
    http = SourceInfo("http", "203.0.113.7")
    inputs = [
        make.json("one-more", org="Busy Org"),
        make.json("good"),
        make.json("two-more", org="Busy Org"),
    ]
    results = ingest_batch(store, [RawInput(data, http, budget=budget) for data in inputs])
    assert [(r.outcome, r.reason_code) for r in results] == [
        ("quarantined", "count-overflow"),
        ("accepted", None),
        ("refused", "quarantine-budget"),
    ]
    assert results[2].raw_id == 0
    with store.read() as conn:
        stored = conn.exec_driver_sql("SELECT COUNT(*) FROM raw_inputs").scalar_one()
    assert stored == 3  # first, one-more, good
