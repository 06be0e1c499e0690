"""The app works offline: no page that pulls scripts from a CDN."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tlsrpt.settings import Settings
from tlsrpt.web.app import create_app


def test_no_cdn_docs_pages_but_a_schema(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}"))
    with TestClient(app) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 404
        schema = client.get("/openapi.json")
        assert schema.status_code == 200
        assert "/v1/reports" in schema.json()["paths"]
