"""The dashboard over a database with the demo dataset (up to yesterday) plus
hostile reports, an admin and a customer; an in-process client, and a real
uvicorn server on loopback for the browser tests."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import uvicorn
from fastapi.testclient import TestClient

from tlsrpt.demo import load_demo
from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.settings import Settings
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.users import add_domain, add_user
from tlsrpt.web.app import create_app

NO_RDNS = Settings(reverse_dns=False)  # no DNS off loopback in tests

# The pages show periods ending today (UTC), so the data ends yesterday.
END = datetime.now(UTC).date() - timedelta(days=1)
DAYS = 60
PASSWORD = "correct horse battery"
ADMIN, CUSTOMER = "admin@example.com", "customer@example.net"
FIXTURES = Path(__file__).parents[2] / "fixtures" / "reports"

# Each payload sets window.__pwned when it runs; the browser test checks it
# stays unset. The domain is hostile too, so links and titles are exercised.
HOSTILE_DOMAIN = "\"><script>window.__pwned='domain'</script>.example"


def _payload(field: str) -> str:
    return (
        f"\"'><script>window.__pwned='{field}'</script><img src=x onerror=\"window.__pwned='{field}'\">"
        f"javascript:window.__pwned='{field}'"
    )


def hostile_report(day: date) -> dict[str, object]:
    """An RFC 8460 report with a payload in every string field."""
    return {
        "organization-name": _payload("org"),
        "date-range": {
            "start-datetime": f"{day.isoformat()}T00:00:00Z",
            "end-datetime": f"{day.isoformat()}T23:59:59Z",
        },
        "contact-info": _payload("contact"),
        "report-id": _payload("report-id"),
        "policies": [
            {
                "policy": {
                    "policy-type": "sts",
                    "policy-string": [_payload("policy-string"), '=HYPERLINK("http://x")'],
                    "policy-domain": HOSTILE_DOMAIN,
                    "mx-host": [_payload("mx-host")],
                },
                "summary": {"total-successful-session-count": 7, "total-failure-session-count": 3},
                "failure-details": [
                    {
                        "result-type": _payload("result-type"),
                        "sending-mta-ip": _payload("sending-ip"),
                        "receiving-mx-hostname": _payload("mx"),
                        "receiving-mx-helo": _payload("helo"),
                        "receiving-ip": _payload("receiving-ip"),
                        "failed-session-count": 3,
                        "additional-information": "javascript:window.__pwned='info'",
                        "failure-reason-code": "=cmd|' /C calc'!A0 " + _payload("reason"),
                    }
                ],
            }
        ],
    }


@dataclass
class Site:
    store: Store
    hostile_report_pk: int
    shipped_hostile_pk: int  # tests/fixtures/reports/hostile-strings.json
    end: date = END
    hostile_domain: str = HOSTILE_DOMAIN


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    path = tmp_path_factory.mktemp("dashboard") / "dashboard.sqlite3"
    store = open_store(f"sqlite:///{path}")
    load_demo(store, END, DAYS)
    source = SourceInfo("file", "hostile")
    result = ingest(store, orjson.dumps(hostile_report(END)), source)
    assert result.outcome == "accepted", result.reason
    shipped = ingest(store, (FIXTURES / "hostile-strings.json").read_bytes(), source)
    assert shipped.outcome == "accepted", shipped.reason
    with store.write() as conn:
        add_user(conn, ADMIN, PASSWORD, admin=True)
        add_user(conn, CUSTOMER, PASSWORD, admin=False)
        add_domain(conn, "shop.example.net", CUSTOMER)
    yield Site(store, result.report_ids[0], shipped.report_ids[0])
    store.close()


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def login(client: TestClient, email: str, password: str = PASSWORD) -> None:
    form = client.get("/login")
    token = CSRF.search(form.text)
    assert token is not None
    answer = client.post(
        "/login",
        data={"email": email, "password": password, "csrf": token.group(1), "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    with TestClient(create_app(NO_RDNS, site.store)) as c:
        yield c


@contextlib.contextmanager
def serving(store: Store) -> Iterator[str]:
    """A real uvicorn server over `store` on a free loopback port, in a
    thread; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(NO_RDNS, store), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture(scope="session")
def serve_store() -> Callable[[Store], contextlib.AbstractContextManager[str]]:
    """`serving`, for test modules that build a store of their own."""
    return serving


@pytest.fixture(scope="module")
def live_url(site: Site) -> Iterator[str]:
    """A real uvicorn server on a free loopback port, in a thread."""
    with serving(site.store) as url:
        yield url
