"""Group commit (tlsrpt.ingest.group_commit): inputs arriving together share
one transaction, written by the ingest child process (tlsrpt.ingest.child);
each caller gets its own committed result."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tlsrpt.ingest.group_commit import GroupCommitter
from tlsrpt.ingest.model import RawInput, SourceInfo
from tlsrpt.store.engine import Store
from tlsrpt.store.url import StoreError

HTTP = SourceInfo("http", "127.0.0.1")


def _count(store: Store, table: str) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def _transactions(store: Store) -> Counter[Any]:
    """Raw inputs per transaction: one transaction stamps one time on all."""
    with store.read() as conn:
        return Counter(conn.execute(sa.text("SELECT processed_at FROM raw_inputs")).scalars())


def _submit_together(store: Store, inputs: list[bytes], **options: Any) -> list[Any]:
    """Every input submitted at once to one committer; their results."""

    async def run() -> list[Any]:
        committer = GroupCommitter(store, **options)
        await committer.start()
        try:
            return await asyncio.gather(
                *(committer.submit(RawInput(data, HTTP)) for data in inputs)
            )
        finally:
            await committer.close()

    return asyncio.run(run())


def test_concurrent_inputs_share_transactions_and_get_their_own_results(
    store: Store, make: Any
) -> None:
    inputs = [make.json(f"r-{i}") for i in range(40)]
    inputs += [inputs[0], b"not a report"]  # a duplicate and a quarantine in the crowd
    results = _submit_together(store, inputs, max_batch=16)
    outcomes = [r.outcome for r in results]
    assert outcomes[:40] == ["accepted"] * 40
    assert outcomes[40:] == ["duplicate", "quarantined"]
    assert results[40].raw_id == results[0].raw_id
    assert _count(store, "reports") == 40
    batches = _transactions(store)
    assert sum(batches.values()) == 41  # distinct bytes
    assert len(batches) < 41  # some inputs shared a transaction
    assert max(batches.values()) <= 16


def test_a_failing_database_fails_every_waiting_caller(tmp_path: Path, make: Any) -> None:
    """The child cannot open the database: each caller hears it (the
    receivers answer 503 / 451), nothing hangs."""
    gone = Store(f"sqlite:///{tmp_path / 'no-such-dir' / 'db.sqlite3'}")

    async def run() -> list[Any]:
        committer = GroupCommitter(gone)
        try:
            return await asyncio.gather(
                *(committer.submit(RawInput(make.json(f"r-{i}"), HTTP)) for i in range(3)),
                return_exceptions=True,
            )
        finally:
            await committer.close()

    results = asyncio.run(run())
    assert all(isinstance(r, StoreError) for r in results), results
    assert all("cannot open database" in str(r) for r in results), results


def test_a_dead_child_fails_its_batch_and_the_next_input_gets_a_new_one(
    tmp_path: Path, make: Any
) -> None:
    """The child is killed while it waits for the write lock: its callers
    get StoreError (a sender retries); the next input starts a new child
    and is stored; the lost batch was never committed."""
    from tlsrpt.store.engine import open_store

    db = tmp_path / "db.sqlite3"
    store = open_store(f"sqlite:///{db}")
    blocker = sqlite3.connect(db, isolation_level=None)

    async def run() -> tuple[list[Any], Any]:
        committer = GroupCommitter(store)
        await committer.start()
        try:
            blocker.execute("BEGIN IMMEDIATE")  # the child's write must wait
            waiting = [
                asyncio.ensure_future(committer.submit(RawInput(make.json(f"r-{i}"), HTTP)))
                for i in range(3)
            ]
            await asyncio.sleep(1.0)
            assert not any(w.done() for w in waiting)
            process = committer._child._process
            assert process is not None
            process.kill()
            lost = await asyncio.gather(*waiting, return_exceptions=True)
            blocker.execute("ROLLBACK")
            again = await committer.submit(RawInput(make.json("r-0"), HTTP))
            return lost, again
        finally:
            await committer.close()

    try:
        lost, again = asyncio.run(run())
    finally:
        blocker.close()
    assert all(isinstance(r, StoreError) for r in lost), lost
    assert all("ingest process" in str(r) for r in lost), lost
    assert again.outcome == "accepted"  # the same report again: never stored before
    assert _count(store, "reports") == 1
    store.close()


@pytest.mark.parametrize("inputs", [1, 30])
def test_close_stops_the_child_after_its_last_batch(store: Store, make: Any, inputs: int) -> None:
    async def run() -> tuple[list[Any], Any]:
        committer = GroupCommitter(store, max_batch=8)
        results = await asyncio.gather(
            *(committer.submit(RawInput(make.json(f"c-{i}"), HTTP)) for i in range(inputs))
        )
        process = committer._child._process
        await committer.close()
        return results, process

    results, process = asyncio.run(run())
    assert [r.outcome for r in results] == ["accepted"] * inputs
    assert _count(store, "reports") == inputs
    assert process is not None and not process.is_alive()
    assert process.exitcode == 0  # told to stop, not killed


def test_a_batch_stays_within_its_byte_budget(store: Store, make: Any) -> None:
    """Batches are copied to the child: a crowd of large inputs is split
    into batches of at most `max_batch_bytes` (one input at least)."""
    inputs = [make.json(f"big-{i}") for i in range(12)]
    results = _submit_together(store, inputs, max_batch_bytes=2 * max(map(len, inputs)))
    assert [r.outcome for r in results] == ["accepted"] * len(inputs)
    batches = _transactions(store)
    assert sum(batches.values()) == len(inputs)
    assert max(batches.values()) <= 2


def test_an_input_that_cannot_be_sent_fails_alone(store: Store, make: Any) -> None:
    """Nothing of it reaches the child, so the replies stay matched to
    their batches: the next input is stored as usual."""
    unsendable = RawInput(make.json("x-1"), SourceInfo("http", "127.0.0.1", meta={"f": lambda: 0}))

    async def run() -> tuple[Any, Any]:
        committer = GroupCommitter(store)
        await committer.start()
        try:
            failed = await asyncio.gather(committer.submit(unsendable), return_exceptions=True)
            # out of step, this reply would go to the failed input: no answer
            good = await asyncio.wait_for(committer.submit(RawInput(make.json("x-2"), HTTP)), 30)
            return failed[0], good
        finally:
            await committer.close()

    failed, good = asyncio.run(run())
    assert isinstance(failed, Exception) and not isinstance(failed, StoreError), failed
    assert good.outcome == "accepted"
    assert _count(store, "raw_inputs") == 1
