"""One log line per request (tlsrpt.web.access_log): the app's access line
for every request, except report POSTs, which the receiver logs itself."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tlsrpt.settings import Settings
from tlsrpt.web.app import create_app


def test_one_line_per_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, report_json: Callable[..., bytes]
) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}"))
    with TestClient(app) as client, caplog.at_level(logging.INFO):
        assert client.get("/healthz?probe=1").status_code == 200
        assert client.get("/no-such-page").status_code == 404
        assert client.get("/v1/reports").status_code == 405  # not a POST: logged here
        posted = client.post(
            "/v1/reports", content=report_json(), headers={"content-type": "application/json"}
        )
        assert posted.status_code == 201
    access = [r.getMessage() for r in caplog.records if r.name == "tlsrpt.access"]
    assert len(access) == 3, access
    assert access[0].endswith('"GET /healthz?probe=1 HTTP/1.1" 200')
    assert access[1].endswith('"GET /no-such-page HTTP/1.1" 404')
    assert access[2].endswith('"GET /v1/reports HTTP/1.1" 405')
    receiver = [r.getMessage() for r in caplog.records if r.name == "tlsrpt.receiver"]
    assert len(receiver) == 1 and ": accepted (raw input 1)" in receiver[0], receiver
