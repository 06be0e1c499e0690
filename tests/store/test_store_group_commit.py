"""Group commit (tlsrpt.ingest.group_commit): inputs arriving together share
one transaction, each caller gets its own committed result."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from tlsrpt.ingest import pipeline
from tlsrpt.ingest.group_commit import GroupCommitter
from tlsrpt.ingest.model import RawInput, SourceInfo
from tlsrpt.store.engine import Store

HTTP = SourceInfo("http", "127.0.0.1")


def _count(store: Store, table: str) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def test_concurrent_inputs_share_transactions_and_get_their_own_results(
    store: Store, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    real = pipeline.ingest_batch

    def counting(store_: Store, inputs: Any, **kwargs: Any) -> Any:
        batches.append(len(inputs))
        return real(store_, inputs, **kwargs)

    monkeypatch.setattr("tlsrpt.ingest.group_commit.ingest_batch", counting)
    inputs = [make.json(f"r-{i}") for i in range(40)]
    inputs += [inputs[0], b"not a report"]  # a duplicate and a quarantine in the crowd

    async def run() -> list[Any]:
        committer = GroupCommitter(store, max_batch=16)
        try:
            return await asyncio.gather(
                *(committer.submit(RawInput(data, HTTP)) for data in inputs)
            )
        finally:
            await committer.close()

    results = asyncio.run(run())
    outcomes = [r.outcome for r in results]
    assert outcomes[:40] == ["accepted"] * 40
    assert outcomes[40:] == ["duplicate", "quarantined"]
    assert results[40].raw_id == results[0].raw_id
    assert sum(batches) == len(inputs)
    assert len(batches) < len(inputs)  # some inputs shared a transaction
    assert max(batches) <= 16
    assert _count(store, "reports") == 40


def test_a_failing_database_fails_every_waiting_caller(
    store: Store, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise sa.exc.OperationalError("COMMIT", {}, OSError("database unreachable"))

    monkeypatch.setattr("tlsrpt.ingest.group_commit.ingest_batch", unreachable)

    async def run() -> list[Any]:
        committer = GroupCommitter(store)
        try:
            return await asyncio.gather(
                *(committer.submit(RawInput(make.json(f"r-{i}"), HTTP)) for i in range(3)),
                return_exceptions=True,
            )
        finally:
            await committer.close()

    results = asyncio.run(run())
    assert all(isinstance(r, sa.exc.OperationalError) for r in results)
    assert _count(store, "raw_inputs") == 0  # nothing half-stored
