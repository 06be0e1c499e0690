"""`GET /metrics`: Prometheus text exposition.

Two parts: the process's counters and histograms (tlsrpt.metrics: ingest
outcomes, receiver requests and latencies, checks, notifications, plus
prometheus_client's process metrics), and gauges read from the database
at scrape time by `DatabaseCollector`, cached for `CACHE_TTL` so that
frequent scrapes (or several Prometheus servers) cost one read per TTL:

- `tlsrpt_alerts_firing{rule,severity}`
- `tlsrpt_outbox_pending{channel}`, `tlsrpt_outbox_failed{channel}`,
  `tlsrpt_outbox_oldest_pending_age_seconds{channel}`
- `tlsrpt_domain_sessions{domain,day="today"|"yesterday",result="successful"|"failed"}`
  from the daily roll-ups of those two UTC days only. At most
  `metrics_max_domains` domains get a label of their own (those with the
  most sessions over the two days); the rest are summed under
  `domain="other"`, and `tlsrpt_domain_series_folded` says how many.
- `tlsrpt_metrics_source_errors`: database reads that failed at the last
  refresh (their gauges are missing from that scrape).

Access: with `metrics_token` set, `Authorization: Bearer <token>` is
required (401 otherwise). Without it, only a client on a loopback address
whose request carries no `X-Forwarded-For` or `Forwarded` header (so it
did not come through a local reverse proxy) is answered; others get 403.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tlsrpt import metrics
from tlsrpt.settings import Settings
from tlsrpt.store import gauges, outbox
from tlsrpt.store.engine import Store
from tlsrpt.store.url import StoreError
from tlsrpt.web.problems import problem

log = logging.getLogger("tlsrpt.metrics")
CACHE_TTL = dt.timedelta(seconds=15)
# What generate_latest writes: the classic text format, which every
# Prometheus version reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OTHER = "other"
Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def cap_domains(
    rows: Sequence[tuple[str, dt.date, int, int]], max_domains: int
) -> tuple[list[tuple[str, dt.date, int, int]], int]:
    """`rows` (domain, day, successful, failed) with all but the
    `max_domains` busiest domains summed under `OTHER`; and how many
    domains were folded so."""
    totals: dict[str, int] = {}
    for domain, _, ok, failed in rows:
        totals[domain] = totals.get(domain, 0) + ok + failed
    ranked = sorted(totals, key=lambda d: (-totals[d], d))
    kept = set(ranked[:max_domains])
    out: dict[tuple[str, dt.date], list[int]] = {}
    for domain, day, ok, failed in rows:
        sums = out.setdefault((domain if domain in kept else OTHER, day), [0, 0])
        sums[0] += ok
        sums[1] += failed
    return [(d, day, s[0], s[1]) for (d, day), s in sorted(out.items())], len(ranked) - len(kept)


def gauge_families() -> dict[str, GaugeMetricFamily]:
    g = GaugeMetricFamily
    return {
        "alerts": g(
            "tlsrpt_alerts_firing",
            "Firing alerts by rule and severity",
            labels=["rule", "severity"],
        ),
        "pending": g(
            "tlsrpt_outbox_pending", "Notifications not delivered yet", labels=["channel"]
        ),
        "failed": g(
            "tlsrpt_outbox_failed", "Notifications given up (failed for good)", labels=["channel"]
        ),
        "age": g(
            "tlsrpt_outbox_oldest_pending_age_seconds",
            "Age of the oldest notification not delivered yet",
            labels=["channel"],
        ),
        "sessions": g(
            "tlsrpt_domain_sessions",
            "TLS sessions reported for a policy domain on the UTC day (today, yesterday)",
            labels=["domain", "day", "result"],
        ),
        "folded": g(
            "tlsrpt_domain_series_folded",
            'Domains over metrics_max_domains, counted under domain="other"',
        ),
        "errors": g(
            "tlsrpt_metrics_source_errors", "Database reads that failed at the last refresh"
        ),
    }


class DatabaseCollector:
    """Gauges read through the store at scrape time, cached for `ttl`."""

    def __init__(
        self,
        store: Store,
        max_domains: int,
        *,
        ttl: dt.timedelta = CACHE_TTL,
        clock: Clock = _utc_now,
    ) -> None:
        self.store, self.max_domains, self.ttl, self.clock = store, max_domains, ttl, clock
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._until = 0.0

    def describe(self) -> Iterable[Metric]:
        return list(gauge_families().values())

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            if time.monotonic() >= self._until:
                self._cached = self._read()
                self._until = time.monotonic() + self.ttl.total_seconds()
            return list(self._cached)

    def _read(self) -> list[Metric]:
        families = gauge_families()
        now = self.clock()
        errors = 0
        for name, read in (
            ("alerts", self._alerts),
            ("outbox", self._outbox),
            ("domains", self._domains),
        ):
            try:
                with self.store.read() as conn:
                    read(conn, families, now)
            except (StoreError, sa.exc.DBAPIError) as exc:
                errors += 1
                log.warning("metrics: cannot read %s: %s", name, str(exc).splitlines()[0])
                for key in {
                    "alerts": ["alerts"],
                    "outbox": ["pending", "failed", "age"],
                    "domains": ["sessions", "folded"],
                }[name]:
                    families.pop(key)
        families["errors"].add_metric([], errors)
        return list(families.values())

    def _alerts(self, conn: Any, families: dict[str, GaugeMetricFamily], _: dt.datetime) -> None:
        for rule, severity, count in gauges.alerts_firing(conn):
            families["alerts"].add_metric([rule, severity], count)

    def _outbox(self, conn: Any, families: dict[str, GaugeMetricFamily], now: dt.datetime) -> None:
        for b in outbox.backlog(conn):
            families["pending"].add_metric([b.channel], b.pending)
            families["failed"].add_metric([b.channel], b.failed)
            age = (now - b.oldest_pending).total_seconds() if b.oldest_pending else 0.0
            families["age"].add_metric([b.channel], max(age, 0.0))

    def _domains(self, conn: Any, families: dict[str, GaugeMetricFamily], now: dt.datetime) -> None:
        today = now.date()
        yesterday = today - dt.timedelta(days=1)
        rows, folded = cap_domains(
            gauges.domain_sessions(conn, [yesterday, today]), self.max_domains
        )
        for domain, day, ok, failed in rows:
            when = "today" if day == today else "yesterday"
            families["sessions"].add_metric([domain, when, "successful"], ok)
            families["sessions"].add_metric([domain, when, "failed"], failed)
        families["folded"].add_metric([], folded)


def _denied(request: Request, token: str | None) -> Response | None:
    """None when the request may read /metrics, else the answer."""
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        given_token = given.strip().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(given_token, token.encode()):
            return None
        answer = problem(401, "GET /metrics needs Authorization: Bearer <metrics_token>")
        answer.headers["WWW-Authenticate"] = 'Bearer realm="tlsrpt metrics"'
        return answer
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    if loopback and not proxied:
        return None
    return problem(403, "/metrics answers loopback clients only; set metrics_token to scrape it")


def exposition(app: FastAPI) -> bytes:
    """The text of /metrics: the process's metrics, then the database's."""
    collector: DatabaseCollector | None = getattr(app.state, "metrics_collector", None)
    if collector is None:
        settings: Settings = app.state.settings
        collector = DatabaseCollector(app.state.store, settings.metrics_max_domains)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        app.state.metrics_collector, app.state.metrics_registry = collector, registry
    return generate_latest(REGISTRY) + generate_latest(app.state.metrics_registry)


def install(app: FastAPI, settings: Settings) -> None:
    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        denied = _denied(request, settings.metrics_token)
        if denied is not None:
            return denied
        body = await run_in_threadpool(exposition, request.app)
        return Response(body, media_type=CONTENT_TYPE)


class ReceiverMetrics:
    """ASGI middleware: counts and times the report POSTs (whatever the
    answer, rate-limited ones too)."""

    def __init__(self, app: ASGIApp, reports_path: str) -> None:
        self.app, self.reports_path = app, reports_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == self.reports_path
        ):
            await self.app(scope, receive, send)
            return
        status = 500  # what the outer error handler answers
        start = time.perf_counter()

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            metrics.RECEIVER_REQUESTS.labels(str(status)).inc()
            metrics.RECEIVER_SECONDS.observe(time.perf_counter() - start)
