"""The watcher against the lab: scheduled passes with an injected clock,
two watchers sharing one PostgreSQL database, and a watcher killed in the
middle of a cycle (its leases run out, another takes its domains over)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from checklab.https_server import HttpAnswer
from checklab.zones import DomainSpec, PolicySpec

from tlsrpt.check import CheckOptions
from tlsrpt.store import watch as db
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.users import add_domain
from tlsrpt.watch.schedule import WatchConfig
from tlsrpt.watch.watcher import CheckOutcome, Watcher


def slow_domains(live_lab: Any, label: str, count: int, delay: float = 0.0) -> list[str]:
    """Lab domains whose policy host takes `delay` seconds to answer."""
    names = []
    for _ in range(count):
        name = live_lab.name(label)
        body = f"version: STSv1\nmode: enforce\nmx: mx.{name}\nmax_age: 86400\n".encode()
        live_lab.add(DomainSpec(name, policy=PolicySpec(answer=HttpAnswer(body=body, delay=delay))))
        names.append(name)
    return names


def options(live_lab: Any, concurrency: int = 3) -> CheckOptions:
    lab = live_lab.lab
    return CheckOptions(
        nameservers=(live_lab.nameserver,),
        timeout=5,
        concurrency=concurrency,
        allow_private=True,
        smtp_port=lab.smtp_port,
        https_port=lab.https_port,
        ca_file=str(lab.pki.ca_file),
    )


def register(store: Store, names: list[str]) -> None:
    with store.write() as conn:
        for name in names:
            add_domain(conn, name)


def snapshot_checks(store: Store) -> Counter[str]:
    """Checks stored per domain (a snapshot row counts every check that saw it)."""
    with store.read() as conn:
        rows = conn.execute(sa.text("SELECT domain, checks FROM watch_snapshots"))
        counts: Counter[str] = Counter()
        for domain, checks in rows:
            counts[domain] += checks
        return counts


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def test_scheduled_passes_follow_the_clock(live_lab: Any, tmp_path: Path) -> None:
    names = slow_domains(live_lab, "sched", 3)
    watched, off = names[:2], names[2]
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    register(store, names)
    clock = Clock(dt.datetime.now(dt.UTC))
    config = WatchConfig(
        interval=dt.timedelta(hours=6), jitter=dt.timedelta(0), intervals={off: dt.timedelta(0)}
    )
    seen_in_transaction: list[int] = []

    def after_check(conn: sa.Connection, outcome: CheckOutcome) -> None:
        query = sa.text("SELECT count(*) FROM watch_snapshots WHERE domain = :d")
        seen_in_transaction.append(conn.scalar(query, {"d": outcome.domain}))

    watcher = Watcher(
        store,
        options(live_lab),
        config,
        clock=clock,
        rng=random.Random(3),
        after_check=[after_check],
    )
    try:
        first = asyncio.run(watcher.run_due())
        assert sorted(o.domain for o in first) == sorted(watched)  # not the one set to 0
        assert all(o.first and o.error is None for o in first)
        assert seen_in_transaction == [1, 1]
        assert asyncio.run(watcher.run_due()) == []  # nothing due yet
        clock.now += dt.timedelta(hours=6)
        second = asyncio.run(watcher.run_due())
        assert sorted(o.domain for o in second) == sorted(watched)
        assert not any(o.new_state or o.changes for o in second)
        with store.read() as conn:
            row = db.schedule_row(conn, watched[0])
        assert row is not None and row.last_checked_at == clock.now
        assert row is not None and row.next_due - clock.now == dt.timedelta(hours=6)
        assert snapshot_checks(store) == Counter({watched[0]: 2, watched[1]: 2})
    finally:
        store.close()


def _watch_in_thread(
    url: str, live_lab: Any, results: dict[str, list[str]], key: str, start: threading.Barrier
) -> None:
    """One watcher as a process would run it: its own store, trust and loop."""
    store = open_store(url)
    try:
        watcher = Watcher(store, options(live_lab), WatchConfig(jitter=dt.timedelta(0)))
        start.wait(30)
        results[key] = [o.domain for o in asyncio.run(watcher.run_due()) if o.error is None]
    finally:
        store.close()


@pytest.mark.postgres
def test_two_watchers_share_the_work(live_lab: Any, postgres_url: str) -> None:
    """Every due domain is checked once, by one of the two watchers."""
    names = slow_domains(live_lab, "pair", 12, delay=0.2)
    store = open_store(postgres_url)
    try:
        register(store, names)
        results: dict[str, list[str]] = {}
        start = threading.Barrier(2)
        threads = [
            threading.Thread(
                target=_watch_in_thread, args=(postgres_url, live_lab, results, k, start)
            )
            for k in ("one", "two")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        one, two = results["one"], results["two"]
        assert one and two  # both took part
        assert sorted(one + two) == sorted(names)  # each domain once, none lost
        assert snapshot_checks(store) == Counter(dict.fromkeys(names, 1))
    finally:
        store.close()


def _schedule(store: Store) -> dict[str, tuple[str | None, Any]]:
    with store.read() as conn:
        rows = conn.execute(
            sa.text("SELECT domain, lease_owner, last_checked_at FROM watch_schedule")
        )
        return {domain: (owner, checked) for domain, owner, checked in rows}


@pytest.mark.postgres
def test_a_killed_watcher_loses_nothing(
    wait_for: Any, live_lab: Any, postgres_url: str, tmp_path: Path
) -> None:
    """`tlsrpt watch` is killed (SIGKILL) with checks in flight: once their
    short leases run out, another watcher checks those domains; every domain
    ends up checked exactly once."""
    names = slow_domains(live_lab, "kill", 6, delay=1.0)
    store = open_store(postgres_url)
    register(store, names)
    log = (tmp_path / "watch.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tlsrpt",
            "watch",
            "--db",
            postgres_url,
            *live_lab.cli_args(),
            "--concurrency",
            "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TLSRPT_WATCH_LEASE": "3s", "TLSRPT_WATCH_JITTER": "0"},
    )
    try:

        def mid_cycle() -> bool:
            rows = _schedule(store).values()
            return any(c is not None for _, c in rows) and any(o is not None for o, _ in rows)

        wait_for(mid_cycle, 30, "the watcher stores a check and holds leases")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        orphaned = [d for d, (owner, _) in _schedule(store).items() if owner is not None]
        assert orphaned  # the killed watcher's leases stay behind ...
        survivor = Watcher(store, options(live_lab), WatchConfig(jitter=dt.timedelta(0)))
        taken_over: list[str] = []
        deadline = time.monotonic() + 30
        while any(c is None for _, c in _schedule(store).values()):
            assert time.monotonic() < deadline, _schedule(store)
            taken_over += [o.domain for o in asyncio.run(survivor.run_due())]
            time.sleep(0.2)
        assert set(orphaned) <= set(taken_over)  # ... until they run out
        assert snapshot_checks(store) == Counter(dict.fromkeys(names, 1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
        store.close()
