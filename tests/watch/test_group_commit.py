"""The watcher's group commit on a real SQLite store: writes submitted
together share transactions, each returns its own result, and a failing
write is rolled back alone."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Connection

from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.lifecycle import list_domains
from tlsrpt.store.users import add_domain
from tlsrpt.watch.group_commit import GroupWriter


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'group.db'}")
    yield store
    store.close()


class Counted:
    """The store's transactions, counted."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.transactions = 0

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Connection]:
        self.transactions += 1
        with self.store.lease_write() as conn:
            yield conn


def _registered(store: Store) -> list[str]:
    with store.read() as conn:
        return sorted(d["domain"] for d in list_domains(conn))


def _add(name: str, fail: bool = False):  # type: ignore[no-untyped-def]
    def write(conn: Connection) -> str:
        add_domain(conn, name)
        if fail:
            raise ValueError(f"{name} refused")
        return name

    return write


def test_writes_submitted_together_share_transactions(sqlite_store: Store) -> None:
    counted = Counted(sqlite_store)

    async def main() -> list[str]:
        writer = GroupWriter(counted, limit=10)
        results = await asyncio.gather(*(writer.submit(_add(f"d{i}.example")) for i in range(25)))
        await writer.aclose()
        return list(results)

    results = asyncio.run(main())
    assert results == [f"d{i}.example" for i in range(25)]  # each its own result
    assert _registered(sqlite_store) == sorted(results)
    # all 25 were waiting when the first transaction began: 10, 10 and 5
    assert counted.transactions == 3


def test_a_failing_write_is_rolled_back_alone(sqlite_store: Store) -> None:
    counted = Counted(sqlite_store)

    async def main() -> list[object]:
        writer = GroupWriter(counted)
        writes = [_add("a.example"), _add("b.example", fail=True), _add("c.example")]
        return await asyncio.gather(*(writer.submit(w) for w in writes), return_exceptions=True)

    first, failed, last = asyncio.run(main())
    assert (first, last) == ("a.example", "c.example")
    assert isinstance(failed, ValueError) and str(failed) == "b.example refused"
    assert _registered(sqlite_store) == ["a.example", "c.example"]
    # the three together, rolled back; then each in a transaction of its own
    assert counted.transactions == 4


@pytest.mark.parametrize("hold_loop", [True, False])
def test_the_loop_waits_while_a_transaction_holds_the_lock(
    sqlite_store: Store, hold_loop: bool
) -> None:
    """With `hold_loop`, the event loop runs nothing while a transaction is
    begun (on SQLite: while it holds the write lock); without, it goes on."""
    ticks: list[int] = []  # the loop's ticks seen from inside each transaction

    async def main() -> None:
        counter = [0]

        async def tick() -> None:
            while True:
                counter[0] += 1
                await asyncio.sleep(0.001)

        def write(conn: Connection) -> None:
            time.sleep(0.05)  # the loop stops at its next callback
            before = counter[0]
            time.sleep(0.2)
            add_domain(conn, "held.example")
            ticks.append(counter[0] - before)

        ticker = asyncio.create_task(tick())
        writer = GroupWriter(sqlite_store.lease_write, hold_loop=hold_loop)
        await writer.submit(write)
        ticker.cancel()

    asyncio.run(main())
    assert _registered(sqlite_store) == ["held.example"]
    if hold_loop:
        assert ticks == [0]
    else:
        assert ticks[0] > 5  # 1 ms sleeps for 200 ms, even on a busy machine
