"""The ASGI application of `tlsrpt serve`.

`create_app(settings)` builds the app; feature routers (receiver, later the
API and dashboard) are included here and reach the database through
`request.app.state.store`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from tlsrpt import __version__
from tlsrpt.ingest.group_commit import GroupCommitter
from tlsrpt.store.engine import Store, open_store
from tlsrpt.watch import deliver
from tlsrpt.web import api, dashboard, metrics
from tlsrpt.web.access_log import AccessLog
from tlsrpt.web.ratelimit import RateLimit, default_rules
from tlsrpt.web.receiver import document, receiver_route
from tlsrpt.web.settings import Settings


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """The app for `settings`. With `store`, the caller owns that store;
    without, the app opens the configured database at startup and closes
    it at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = store or await run_in_threadpool(open_store, settings.database_url)
        app.state.store = opened
        # reports that arrive together are committed together (receiver.py)
        app.state.committer = GroupCommitter(opened)
        await app.state.committer.start()
        try:
            # alert notifications of the [[notify]] channels (tlsrpt.watch.deliver)
            async with deliver.background(opened, settings.notify, settings.public_url):
                yield
        finally:
            await app.state.committer.close()
            if store is None:
                opened.close()

    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN, and
    # tlsrpt must work offline; the schema itself is at /openapi.json.
    app = FastAPI(
        title="tlsrpt", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.router.routes.append(
        receiver_route(settings.reports_path, settings.max_body_bytes, settings.body_timeout_s)
    )
    document(app, settings.reports_path)
    api.install(app)
    dashboard.install(app)
    metrics.install(app, settings)
    app.add_middleware(RateLimit, rules=default_rules(settings.reports_path))
    app.add_middleware(AccessLog, reports_path=settings.reports_path)
    app.add_middleware(metrics.ReceiverMetrics, reports_path=settings.reports_path)
    return app
