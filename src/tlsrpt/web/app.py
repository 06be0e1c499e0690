"""The ASGI application of `tlsrpt serve`.

`create_app(settings)` builds the app: it mounts the HTTP receiver
(`tlsrpt.receive.http`) and includes the feature routers (API,
dashboard, policy host), which reach the database through
`request.app.state.store`. `GET /healthz` answers as long as the process
serves requests (liveness, no I/O); `GET /readyz` also reads the database
(readiness: 503 when it cannot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp

from tlsrpt import __version__
from tlsrpt.ingest.group_commit import GroupCommitter
from tlsrpt.receive.http import DomainPath, document, receiver_route
from tlsrpt.settings import Settings
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.migrate import current_revision, head_revision
from tlsrpt.store.url import StoreError
from tlsrpt.store.visible_names import VisibleNames
from tlsrpt.watch import deliver
from tlsrpt.web import api, dashboard, metrics, policy_host, problems
from tlsrpt.web.access_log import AccessLog
from tlsrpt.web.dashboard import admin
from tlsrpt.web.headers import SecurityHeaders
from tlsrpt.web.heap import release
from tlsrpt.web.problems import problem
from tlsrpt.web.rate_order import RateOrders
from tlsrpt.web.ratelimit import RateLimit, default_rules
from tlsrpt.web.segments import EncodedSegments
from tlsrpt.web.verdicts import VerdictCache
from tlsrpt.web.warmup import warm_up

log = logging.getLogger("tlsrpt.web")
READY_TIMEOUT_S = 5.0  # /readyz answers 503 rather than wait longer for the database


class _App(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # Outside the framework's error handling, so its 500 has them too.
        return SecurityHeaders(super().build_middleware_stack())


def _schema_revision(store: Store) -> str | None:
    with store.read() as conn:
        return current_revision(conn)


def _add_probes(app: FastAPI) -> None:
    @app.get("/healthz", summary="Liveness: the process answers (no I/O)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        summary="Readiness: the database can be read and its schema is current",
        responses={503: {"description": "the database is unavailable"}},
        response_model=None,
    )
    async def readyz() -> Any:
        store: Store = app.state.store
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                revision = await run_in_threadpool(_schema_revision, store)
        except (TimeoutError, StoreError, sa.exc.SQLAlchemyError) as exc:
            log.warning("not ready: database %s: %s", store.display_url, exc)
            return problem(503, "the database is unavailable")
        if revision != head_revision():
            log.warning("not ready: schema at %s, this version needs %s", revision, head_revision())
            return problem(503, "the database schema is not the one this version of tlsrpt uses")
        return {"status": "ok", "database": "ok"}


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """The app for `settings`. With `store`, the caller owns that store;
    without, the app opens the configured database at startup and closes
    it at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if store is not None:
            opened = store
        else:
            opened = await run_in_threadpool(open_store, settings.database_url)
        app.state.store = opened
        # before the first request: routes built, templates compiled, a connection
        await run_in_threadpool(warm_up, app.router.routes, opened)
        # reports that arrive together are committed together (receive/http.py)
        app.state.committer = GroupCommitter(opened)
        await app.state.committer.start()
        try:
            # alert notifications of the [[notify]] channels (tlsrpt.watch.deliver)
            async with deliver.background(opened, settings.notify, settings.public_url):
                yield
        finally:
            await app.state.committer.close()
            await run_in_threadpool(app.state.verdicts.close)
            release()  # what settle() froze (tlsrpt.web.heap)
            if store is None:
                opened.close()

    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN, and
    # tlsrpt must work offline; the schema itself is at /openapi.json.
    app = _App(
        title="tlsrpt", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    app.state.verdicts = VerdictCache()
    app.state.rate_orders = RateOrders()  # the domain list by failure rate
    app.state.visible_names = VisibleNames()  # the admins' list of names
    _add_probes(app)
    app.router.routes.append(receiver_route(settings.http))
    api.install(app)
    dashboard.install(app)
    admin.install(app)  # /admin/... and each user's /account/tokens
    policy_host.install(app)  # /.well-known/mta-sts.txt by Host, /v1/mta-sts/allowed
    reports_path = settings.http.reports_path
    document(app, reports_path)
    machine_paths = ("/api/", "/v1/", reports_path, "/openapi.json", "/healthz", "/readyz")
    problems.install(app, dashboard.error_page, json_prefixes=machine_paths)
    app.add_middleware(EncodedSegments, prefixes=(f"{api.PREFIX}/domains/", "/domains/"))
    metrics.install(app, settings)
    rules = [
        *default_rules(
            reports_path, settings.http.reports_rate_per_s, settings.http.reports_rate_burst
        ),
        *policy_host.rate_rules(),
    ]
    app.add_middleware(RateLimit, rules=rules)
    app.add_middleware(AccessLog, reports_path=reports_path)
    app.add_middleware(metrics.ReceiverMetrics, reports_path=reports_path)
    app.add_middleware(DomainPath, reports_path=reports_path)  # outermost
    return app
