"""What the app does at startup for its first requests: it builds what
FastAPI would build at the first request reaching each included router
(`tlsrpt.web.app.build_routes`), and runs the full collection that the
objects of the imports and the app make due."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi.testclient import TestClient

from tlsrpt.settings import Settings
from tlsrpt.web.app import build_routes, create_app


def test_every_routed_path_is_built() -> None:
    app = create_app(Settings(reverse_dns=False))
    paths = app.openapi()["paths"]
    operations = sum(len(methods) for methods in paths.values())
    top_level = len(app.router.routes)
    built = build_routes(app.router.routes)
    assert built >= operations > top_level  # the included routers' routes, not only theirs
    assert build_routes(app.router.routes) == built  # built once, the same routes


def test_startup_runs_the_full_collection_due(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'app.sqlite3'}", reverse_dns=False)
    before = gc.get_stats()[-1]["collections"]
    with TestClient(create_app(settings)) as client:
        assert gc.get_stats()[-1]["collections"] > before  # the oldest generation's
        assert client.get("/healthz").status_code == 200
