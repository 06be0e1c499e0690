"""What a server does before its first request (`tlsrpt.web.warmup`)."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi.testclient import TestClient

from tlsrpt.settings import Settings
from tlsrpt.store.engine import Store
from tlsrpt.web.app import create_app
from tlsrpt.web.dashboard.render import HERE, templates
from tlsrpt.web.warmup import warm_routes, warm_templates


def test_every_template_is_compiled() -> None:
    names = warm_templates()
    on_disk = sorted(p.name for p in Path(HERE / "templates").glob("*.html"))
    assert sorted(names) == on_disk and "overview.html" in names
    cache = templates().env.cache
    assert cache is not None
    assert {key[1] for key in cache} >= set(names)  # keys: (loader ref, name)


def test_the_app_starts_warm_and_serves(store: Store) -> None:
    app = create_app(Settings(reverse_dns=False), store)
    with TestClient(app) as client:
        assert warm_routes(app.router.routes) == 0  # no route serves the path
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code in (200, 303)  # the login page for a visitor
        assert gc.get_freeze_count() > 0  # what lives after start-up (tlsrpt.web.heap)
    assert gc.get_freeze_count() == 0  # given back at shutdown
