"""HTTP receiver (RFC 8460 §5.4) end to end: real uvicorn, httpx client, SQLite."""

from __future__ import annotations

import gzip
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tlsrpt.store.engine import open_store
from tlsrpt.store.schema import raw_inputs

PATH = "/v1/reports"


def post(srv: Any, body: bytes, ctype: str | None, **headers: str) -> httpx.Response:
    if ctype is not None:
        headers["content-type"] = ctype
    return httpx.post(srv.base_url + PATH, content=body, headers=headers, timeout=30)


def raw_rows(srv: Any) -> list[sa.Row]:
    with open_store(srv.settings.database_url) as store, store.read() as conn:
        return list(conn.execute(sa.select(raw_inputs).order_by(raw_inputs.c.id)))


def test_healthz(server: Any, report_json: Callable[..., bytes]) -> None:
    r = httpx.get(server.base_url + "/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("ctype", "compress"),
    [
        ("application/tlsrpt+gzip", True),  # RFC 8460 §5.4; docs/conformance.md#http-media-types
        ("application/tlsrpt+json", False),  # RFC 8460 §5.4; docs/conformance.md#http-media-types
        ("application/gzip", True),
        ("application/json; charset=utf-8", False),
        ("application/octet-stream", True),
        ("application/tlsrpt+gzip", False),  # plain JSON under the gzip type: sniffed
    ],
)
def test_accepted_then_duplicate(
    server: Any, ctype: str, compress: bool, report_json: Callable[..., bytes]
) -> None:
    body = report_json()
    body = gzip.compress(body) if compress else body
    first = post(server, body, ctype)
    assert first.status_code == 201, first.text  # RFC 8460 §5.4; docs/conformance.md#http-status
    assert first.json()["outcome"] == "accepted"
    assert first.json()["report_ids"]
    again = post(server, body, ctype)
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    assert again.json()["report_ids"] == first.json()["report_ids"]
    rows = raw_rows(server)
    assert len(rows) == 1
    assert rows[0].source_kind == "http"
    assert rows[0].outcome == "accepted"


def test_same_report_other_bytes_is_duplicate(
    server: Any, report_json: Callable[..., bytes]
) -> None:
    # RFC 8460 §5.3; docs/conformance.md#de-duplication: the same report sent as JSON and as gzip is
    # stored once.
    assert post(server, report_json(), "application/tlsrpt+json").status_code == 201
    r = post(server, gzip.compress(report_json()), "application/tlsrpt+gzip")
    assert r.status_code == 200
    assert r.json()["outcome"] == "duplicate"


def test_content_encoding_gzip(server: Any, report_json: Callable[..., bytes]) -> None:
    # RFC 8460 §5.4; docs/conformance.md#gzip-detection: gzip as a content coding is accepted too.
    body = gzip.compress(report_json())
    r = post(server, body, "application/tlsrpt+json", **{"content-encoding": "gzip"})
    assert r.status_code == 201, r.text


def test_invalid_json_is_400_problem_and_quarantined(
    server: Any, report_json: Callable[..., bytes]
) -> None:
    body = b'{"organization-name": "broken", '
    r = post(server, body, "application/tlsrpt+json")
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 400
    assert problem["title"] == "Bad Request"
    assert problem["quarantined"] is True
    assert problem["reason_code"]
    rows = raw_rows(server)
    assert [(row.id, row.outcome, row.size) for row in rows] == [
        (problem["raw_id"], "quarantined", len(body))
    ]


def test_gzip_bomb_is_400_and_kept(server: Any, report_json: Callable[..., bytes]) -> None:
    # 50 MB of zeros in ~50 KB of gzip: inflated only up to the parser's
    # decompression limit, then quarantined.
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1024 * 1024)
    bomb = b"".join(comp.compress(chunk) for _ in range(50)) + comp.flush()
    assert len(bomb) < server.settings.http.max_body_bytes
    r = post(server, bomb, "application/tlsrpt+gzip")
    assert r.status_code == 400
    assert r.json()["reason_code"] == "decompressed-too-large"
    assert raw_rows(server)[0].outcome == "quarantined"
    assert httpx.get(server.base_url + "/healthz").status_code == 200


def test_oversized_body_413(server: Any, report_json: Callable[..., bytes]) -> None:
    body = b"{" + b" " * server.settings.http.max_body_bytes
    r = post(server, body, "application/tlsrpt+json")
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert raw_rows(server) == []


def test_oversized_chunked_body_413(server: Any, report_json: Callable[..., bytes]) -> None:
    """No Content-Length: the limit is enforced while the body streams in."""
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(100):  # up to 100 x 64 KiB; the server stops at 64 KiB
            sent += 1
            yield b" " * 65536

    try:
        r = httpx.post(
            server.base_url + PATH,
            content=body(),
            headers={"content-type": "application/tlsrpt+json"},
            timeout=30,
        )
    except httpx.TransportError:
        pytest.fail("the server should answer 413 rather than drop the connection")
    assert r.status_code == 413
    assert raw_rows(server) == []
    assert httpx.get(server.base_url + "/healthz").status_code == 200


@pytest.mark.parametrize("ctype", [None, "text/plain", "multipart/form-data; boundary=x"])
def test_wrong_content_type_415(
    server: Any, ctype: str | None, report_json: Callable[..., bytes]
) -> None:
    r = post(server, report_json(), ctype)
    assert r.status_code == 415
    assert r.headers["content-type"] == "application/problem+json"
    assert raw_rows(server) == []


def test_unknown_content_coding_415(server: Any, report_json: Callable[..., bytes]) -> None:
    r = post(server, report_json(), "application/tlsrpt+json", **{"content-encoding": "br"})
    assert r.status_code == 415


def test_reports_path_configurable(
    make_server: Callable[..., Any], report_json: Callable[..., bytes]
) -> None:
    srv = make_server(reports_path="/tlsrpt/in")
    r = httpx.post(
        srv.base_url + "/tlsrpt/in",
        content=report_json(),
        headers={"content-type": "application/tlsrpt+json"},
    )
    assert r.status_code == 201
    assert httpx.post(srv.base_url + PATH, content=b"{}").status_code == 404


def test_trickled_body_408(make_server: Callable[..., Any]) -> None:
    """A body sent byte by byte to hold the connection gets 408 after
    body_timeout_s, and the server keeps serving."""
    srv = make_server(body_timeout_s=1)
    port = int(srv.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/tlsrpt+json\r\nContent-Length: 1000\r\n\r\n"
        )
        answer = b""
        deadline = time.monotonic() + 8
        sock.settimeout(0.2)
        while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
            try:
                sock.sendall(b" ")
                answer += sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert httpx.get(srv.base_url + "/healthz").status_code == 200


def test_sender_gone_mid_body_stores_nothing_and_server_keeps_serving(
    server: Any, report_json: Callable[..., bytes]
) -> None:
    """A sender that closes the connection before the end of the body gets
    no answer and nothing is stored (it was never received whole)."""
    port = int(server.base_url.rsplit(":", 1)[1])
    body = report_json()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/tlsrpt+json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[: len(body) // 2]
        )
        time.sleep(0.3)  # the receiver is waiting for the rest
    time.sleep(0.3)
    assert httpx.get(server.base_url + "/healthz").status_code == 200
    r = httpx.post(
        server.base_url + PATH, content=body, headers={"content-type": "application/tlsrpt+json"}
    )
    assert r.status_code == 201
    assert len(raw_rows(server)) == 1  # the partial copy was never stored


def test_large_reports_among_small_ones_all_stored(
    make_server: Callable[..., Any], report_json: Callable[..., bytes]
) -> None:
    """Reports of megabytes (sent to the ingest child from a thread, the
    socket filling up while it writes the batch before) among small ones,
    concurrently: every one is stored."""
    from concurrent.futures import ThreadPoolExecutor

    import orjson

    srv = make_server(max_body_bytes=8 * 1024 * 1024)
    small = orjson.loads(report_json())

    def body(i: int) -> bytes:
        doc = dict(small, **{"report-id": f"size-{i}"})
        if i % 3 == 0:  # ~2 MB: 15,000 failure rows
            policy = dict(doc["policies"][0])
            policy["failure-details"] = [
                {
                    "result-type": "certificate-expired",
                    "sending-mta-ip": f"192.0.2.{k % 250 + 1}",
                    "receiving-mx-hostname": "mx.example.com",
                    "failed-session-count": 1,
                }
                for k in range(15_000)
            ]
            policy["summary"] = {
                "total-successful-session-count": 1,
                "total-failure-session-count": 15_000,
            }
            doc["policies"] = [policy]
        return orjson.dumps(doc)

    bodies = [body(i) for i in range(24)]
    assert max(map(len, bodies)) > 1_000_000
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(lambda b: post(srv, b, "application/tlsrpt+json").status_code, bodies)
        )
    assert codes == [201] * len(bodies)
    assert len(raw_rows(srv)) == len(bodies)


def test_reports_the_store_refuses_get_400_and_the_others_201(
    server: Any, report_json: Callable[..., bytes]
) -> None:
    """60 reports at once (they share group commits): one whose failure rows
    add up past 2^63 (implausible) and one whose roll-up row cannot hold
    more (count-overflow) are each answered 400 and kept in quarantine;
    every other one is stored and answered 201."""
    from concurrent.futures import ThreadPoolExecutor

    import orjson

    first = orjson.loads(report_json("busy-0"))
    first["organization-name"] = "Busy Sender"
    assert post(server, orjson.dumps(first), "application/tlsrpt+json").status_code == 201
    with open_store(server.settings.database_url) as store, store.write() as conn:
        conn.exec_driver_sql(
            f"UPDATE daily_rollups SET successful_sessions = {2**63 - 1} "
            "WHERE organization = 'Busy Sender'"
        )
    bodies = [report_json(f"good-{i}") for i in range(60)]
    bodies[10] = orjson.dumps(dict(first, **{"report-id": "busy-1"}))
    huge = orjson.loads(report_json("huge"))
    huge["policies"][0]["failure-details"] = [
        dict(huge["policies"][0]["failure-details"][0], **{"failed-session-count": 2**53 - 1})
    ] * 1025
    bodies[30] = gzip.compress(orjson.dumps(huge))
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda b: post(server, b, "application/tlsrpt+gzip"), bodies))
    codes = [a.status_code for a in answers]
    assert [i for i, code in enumerate(codes) if code != 201] == [10, 30]
    assert (codes[10], answers[10].json()["reason_code"]) == (400, "count-overflow")
    assert (codes[30], answers[30].json()["reason_code"]) == (400, "count-implausible")
    rows = raw_rows(server)
    assert len(rows) == 61
    quarantined = {row.id for row in rows if row.outcome == "quarantined"}
    assert quarantined == {answers[10].json()["raw_id"], answers[30].json()["raw_id"]}
