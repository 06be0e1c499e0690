"""Connection, memory and quarantine limits of the HTTP server, on a real
uvicorn server on loopback configured as `tlsrpt serve` configures it."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tlsrpt.asgi import client_key
from tlsrpt.receive.http import seconds_to_utc_midnight
from tlsrpt.store.engine import open_store
from tlsrpt.store.schema import raw_inputs
from tlsrpt.store.users import add_user, create_token

JSON = {"content-type": "application/tlsrpt+json"}


def _port(running: Any) -> int:
    return int(running.base_url.rsplit(":", 1)[1])


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything until the server closes; socket.timeout (a failure) if it
    keeps the connection open."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


@contextlib.contextmanager
def _sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    try:
        yield opened
    finally:
        for s in opened:
            s.close()


def test_connections_without_complete_headers_are_closed(
    make_server: Callable[..., Any],
) -> None:
    running = make_server(header_timeout_s=1, keepalive_timeout_s=60)
    port = _port(running)
    with _sockets() as opened:
        silent = _connect(port)  # sends nothing at all
        partial = _connect(port)  # headers never completed
        reused = _connect(port)  # one request, then a part of the next one
        slow = _connect(port)  # completes its headers in time
        opened += [silent, partial, reused, slow]
        partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        slow.sendall(b"GET /healthz HTTP/1.1\r\n")
        reused.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(reused).startswith(b"HTTP/1.1 200")
        reused.sendall(b"GET /heal")
        slow.sendall(b"Host: x\r\n\r\n")
        assert _read_response(slow).startswith(b"HTTP/1.1 200")
        # keep-alive is 60 s: only the header timeout closes these
        for sock in (silent, partial, reused):
            assert _read_until_closed(sock) == b""


def test_a_body_sent_too_slowly_is_cut_off_on_every_path(
    make_server: Callable[..., Any],
) -> None:
    """The receiver answers 408 itself; elsewhere (here the login form) the
    connection is closed soon after body_timeout_s."""
    running = make_server(body_timeout_s=1)
    with _sockets() as opened:
        sock = _connect(_port(running))
        opened.append(sock)
        sock.sendall(
            b"POST /login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 100\r\n\r\nemail="
        )
        assert b" 200 " not in _read_until_closed(sock)


def _busy(port: int) -> socket.socket:
    """A connection whose request is in progress: its headers are in, the
    app reads its body (it asked for it: 100 Continue)."""
    sock = _connect(port)
    sock.sendall(
        b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n"
    )
    assert sock.recv(1024).startswith(b"HTTP/1.1 100")
    return sock


def test_beyond_max_connections_a_new_one_is_refused_at_once_when_none_is_idle(
    make_server: Callable[..., Any],
) -> None:
    running = make_server(max_connections=2)
    port = _port(running)
    with _sockets() as opened:
        opened += [_busy(port), _busy(port)]
        third = _connect(port)
        opened.append(third)
        answer = _read_until_closed(third)  # answered and closed, not queued
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert b"\r\nretry-after: 1\r\n" in answer
        assert b"application/problem+json" in answer
        # the requests in progress were not disturbed
        opened[0].sendall(b"{" * 100)
        assert _read_response(opened[0]).startswith(b"HTTP/1.1 400")
        # a freed slot is given to the next connection
        for _ in range(50):
            r = httpx.get(running.base_url + "/healthz", timeout=10)
            if r.status_code == 200:
                break
            time.sleep(0.1)
        assert r.status_code == 200


def test_beyond_max_connections_the_longest_idle_one_makes_room(
    make_server: Callable[..., Any],
) -> None:
    running = make_server(max_connections=2)
    port = _port(running)
    with _sockets() as opened:
        oldest, newer = _connect(port), _connect(port)
        opened += [oldest, newer]
        time.sleep(0.2)  # both accepted
        assert httpx.get(running.base_url + "/healthz", timeout=10).status_code == 200
        assert _read_until_closed(oldest) == b""
        newer.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(newer).startswith(b"HTTP/1.1 200")


def test_bodies_in_memory_beyond_the_limit_get_503_with_retry_after(
    make_server: Callable[..., Any],
) -> None:
    running = make_server(max_body_bytes=60_000, max_inflight_body_bytes=100_000)
    port = _port(running)
    url = running.base_url + "/v1/reports"
    with _sockets() as opened:
        holder = _connect(port)  # reserves its declared 60,000 bytes
        opened.append(holder)
        holder.sendall(
            b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 60000\r\nExpect: 100-continue\r\n\r\n"
        )
        assert holder.recv(1024).startswith(b"HTTP/1.1 100")
        r = httpx.post(url, content=b"[" * 50_000, headers=JSON, timeout=10)
        assert r.status_code == 503
        assert r.headers["retry-after"] == "5"
        assert r.headers["content-type"] == "application/problem+json"
        assert "request bodies" in r.json()["detail"]

        def chunked() -> Iterator[bytes]:  # no Content-Length: reserved as it comes
            for _ in range(5):
                yield b"[" * 10_000

        r = httpx.post(url, content=chunked(), headers=JSON, timeout=10)
        assert (r.status_code, r.headers["retry-after"]) == (503, "5")
        # small bodies still fit beside it
        assert httpx.post(url, content=b"[" * 30_000, headers=JSON).status_code == 400
        holder.sendall(b"]" * 60_000)
        assert _read_response(holder).startswith(b"HTTP/1.1 400")
        # answered: its share is free again
        assert httpx.post(url, content=b"{" * 50_000, headers=JSON).status_code == 400


def test_quarantine_budget_refuses_with_429_stores_nothing_and_admins_see_it(
    make_server: Callable[..., Any],
    db_url: str,
    report_json: Callable[..., bytes],
) -> None:
    running = make_server(quarantine_budget_inputs=2)
    url = running.base_url + "/v1/reports"
    for body in (b"not a report 1", b"not a report 2"):
        assert httpx.post(url, content=body, headers=JSON).status_code == 400
    before = datetime.now(UTC)
    r = httpx.post(url, content=b"not a report 3", headers=JSON)
    after = datetime.now(UTC)
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert (problem["reason_code"], problem["quarantined"]) == ("quarantine-budget", False)
    assert "127.0.0.1 is over its quarantine budget" in problem["detail"]
    # Retry-After: the next UTC midnight
    wait = int(r.headers["retry-after"])
    assert seconds_to_utc_midnight(after) <= wait <= seconds_to_utc_midnight(before)
    # valid reports are never refused by it
    assert httpx.post(url, content=report_json(), headers=JSON).status_code == 201
    with open_store(db_url) as store:
        with store.read() as conn:
            outcomes = conn.execute(sa.select(raw_inputs.c.outcome)).scalars().all()
        with store.write() as conn:
            add_user(conn, "admin@example.com", "correct horse battery", admin=True)
            add_user(conn, "user@example.com", "correct horse battery", admin=False)
            admin, user = (create_token(conn, e) for e in ("admin@example.com", "user@example.com"))
    assert sorted(outcomes) == ["accepted", "quarantined", "quarantined"]
    api = running.base_url + "/api/v1/quarantine/budget"
    seen = httpx.get(api, headers={"Authorization": f"Bearer {admin}"}).json()
    assert seen["per_client_per_day"] == {"inputs": 2, "bytes": 100 * 1024 * 1024}
    assert seen["totals"] == {
        "inputs": 2,
        "bytes": 28,
        "refused_inputs": 1,
        "refused_bytes": 14,
    }
    assert [(c["client"], c["refused_inputs"]) for c in seen["clients"]] == [("127.0.0.1", 1)]
    forbidden = httpx.get(api, headers={"Authorization": f"Bearer {user}"})
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    ("client", "key"),
    [
        (("192.0.2.1", 1), "192.0.2.1"),
        (("2001:db8:1:2:3:4:5:6", 1), "2001:db8:1:2::/64"),
        (("2001:db8:1:2::ffff", 1), "2001:db8:1:2::/64"),
        (("::ffff:192.0.2.9", 1), "192.0.2.9"),
        (None, "unknown"),
    ],
)
def test_client_key_counts_an_ipv6_client_by_its_64(client: Any, key: str) -> None:
    assert client_key({"client": client}) == key


def test_seconds_to_utc_midnight() -> None:
    noon = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert seconds_to_utc_midnight(noon) == 12 * 3600
    assert seconds_to_utc_midnight(noon + timedelta(hours=12) - timedelta(microseconds=1)) == 1
