"""The receiver's per-address rate limit on a real uvicorn server on
loopback: a large sender's burst after midnight UTC is accepted whole,
a flood is still answered 429, and on PostgreSQL the instances serving
one database count a client once."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.serving import serve as _serve

from tlsrpt.receive.settings import HttpSettings
from tlsrpt.settings import Settings
from tlsrpt.store.engine import open_store
from tlsrpt.store.schema import rate_limits, reports
from tlsrpt.web.ratelimit import TokenBuckets, default_rules

GZIP = {"content-type": "application/tlsrpt+gzip"}
BURST = 10_000  # one report per domain of a provider's shared rua=https endpoint
THREADS = 4


def _bodies(report_json: Callable[..., bytes], n: int) -> list[bytes]:
    """`n` distinct small gzip reports, one per policy domain."""
    return [
        gzip.compress(report_json(f"2026-11-01T00:00:00Z_d{i}.example"), compresslevel=1)
        for i in range(n)
    ]


def _post_all(base_url: str, bodies: list[bytes]) -> list[int]:
    """POST every body over THREADS keep-alive connections; the statuses."""
    statuses: list[int] = [0] * len(bodies)
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def post(i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=base_url, timeout=60)
            with lock:
                clients.append(client)
        statuses[i] = client.post("/v1/reports", content=bodies[i], headers=GZIP).status_code

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(post, range(len(bodies)), chunksize=50))
    finally:
        for client in clients:
            client.close()
    return statuses


def _stored(db_url: str) -> int:
    with open_store(db_url) as store, store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one())


def test_a_large_senders_burst_from_one_address_is_stored_whole(
    make_server: Callable[..., Any], db_url: str, report_json: Callable[..., bytes]
) -> None:
    running = make_server()  # the default limits
    statuses = _post_all(running.base_url, _bodies(report_json, BURST))
    refused = [s for s in statuses if s != 201]
    assert not refused, f"{len(refused)} not stored, e.g. {sorted(set(refused))}"
    assert _stored(db_url) == BURST


@pytest.mark.postgres
def test_the_shared_limit_on_postgresql_takes_the_burst_whole(postgres_url: str) -> None:
    """The same burst through the limiter as the middleware takes it on
    PostgreSQL (the receiver's ingest there is tested elsewhere), from
    several threads and two instances' buckets at once."""
    settings = Settings()
    (rule, _login) = default_rules(
        settings.http.reports_path,
        settings.http.reports_rate_per_s,
        settings.http.reports_rate_burst,
    )
    (other, _login) = default_rules(
        settings.http.reports_path,
        settings.http.reports_rate_per_s,
        settings.http.reports_rate_burst,
    )
    with open_store(postgres_url) as store, ThreadPoolExecutor(THREADS) as pool:
        waits = list(
            pool.map(
                lambda i: (rule if i % 2 else other).buckets.take_shared(store, "192.0.2.1"),
                range(BURST),
            )
        )
        assert waits == [0.0] * BURST
        with store.read() as conn:
            row = conn.execute(sa.select(rate_limits)).one()
    assert (row.rule, row.client) == ("reports", "192.0.2.1")
    # taken a lease of 1 % of the burst at a time, and tokens remain
    assert row.granted == settings.http.reports_rate_burst // 100
    assert 1 <= row.tokens < settings.http.reports_rate_burst


def test_a_flood_from_one_address_is_answered_429(
    make_server: Callable[..., Any], report_json: Callable[..., bytes]
) -> None:
    running = make_server(reports_rate_burst=20, reports_rate_per_s=1)
    with httpx.Client(base_url=running.base_url, timeout=30) as client:
        statuses = [
            client.post("/v1/reports", content=body, headers=GZIP)
            for body in _bodies(report_json, 60)
        ]
    codes = [r.status_code for r in statuses]
    # 20 at once, then one a second: most of the 40 sent right after are refused
    assert codes[:20] == [201] * 20
    assert codes.count(429) > 20
    assert set(codes) == {201, 429}
    refused = next(r for r in statuses if r.status_code == 429)
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert "too many requests" in refused.json()["detail"]


@pytest.fixture
def two_instances(postgres_url: str) -> Iterator[tuple[str, str]]:
    """Two servers on one PostgreSQL database, each with its own process
    state, both allowing 6 reports per address at once and 1 a second."""
    settings = Settings(
        database_url=postgres_url, http=HttpSettings(reports_rate_burst=6, reports_rate_per_s=1)
    )
    first, second = _serve(settings), _serve(settings)
    try:
        yield next(first).base_url, next(second).base_url
    finally:
        for gen in (first, second):
            for _ in gen:
                pass


@pytest.mark.postgres
def test_instances_on_postgresql_share_the_limit(
    two_instances: tuple[str, str], postgres_url: str, report_json: Callable[..., bytes]
) -> None:
    first, second = two_instances
    bodies = _bodies(report_json, 20)
    codes = [*_post_sequentially(first, bodies[:6]), *_post_sequentially(second, bodies[6:])]
    # counted per process, the second instance would allow 6 of its 14 as
    # well (12 in all); shared, it has only what refilled since (1 a second)
    assert codes[:6] == [201] * 6
    assert set(codes) == {201, 429}
    assert codes.count(201) < 12
    with open_store(postgres_url) as store, store.read() as conn:
        row = conn.execute(
            sa.select(rate_limits).where(
                rate_limits.c.rule == "reports", rate_limits.c.client == "127.0.0.1"
            )
        ).one()
    assert row.granted == 0
    assert 0 <= row.tokens < 1


def _post_sequentially(base_url: str, bodies: list[bytes]) -> list[int]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        return [client.post("/v1/reports", content=b, headers=GZIP).status_code for b in bodies]


@pytest.mark.postgres
def test_a_flood_past_the_shared_limit_does_not_reach_the_database(postgres_url: str) -> None:
    """Once refused, a client is refused from the process's memory until its
    next token is due: the database's row is not touched again."""
    ticks = [0.0]
    buckets = TokenBuckets(1, 3, clock=lambda: ticks[0], name="reports")
    with open_store(postgres_url) as store:
        assert [buckets.take_shared(store, "192.0.2.7") for _ in range(3)] == [0.0] * 3
        assert buckets.take_shared(store, "192.0.2.7") > 0
        with store.read() as conn:
            before = conn.execute(sa.select(rate_limits.c.at)).scalar_one()
        waits = [buckets.take_shared(store, "192.0.2.7") for _ in range(100)]
        with store.read() as conn:
            after = conn.execute(sa.select(rate_limits.c.at)).scalar_one()
        ticks[0] += 5.0  # the next token is due by this process's clock: asks again
        buckets.take_shared(store, "192.0.2.7")
        with store.read() as conn:
            asked = conn.execute(sa.select(rate_limits.c.at)).scalar_one()
    assert all(w > 0 for w in waits)
    assert after == before
    assert asked > after
