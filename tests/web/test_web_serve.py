"""`tlsrpt serve` as a user runs it: a real process on loopback, stopped by SIGTERM."""

from __future__ import annotations

import gzip
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import sqlalchemy as sa
import trustme

from tlsrpt.store.engine import open_store
from tlsrpt.store.schema import raw_inputs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tlsrpt", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


def wait_up(proc: subprocess.Popen[bytes], url: str, **kw: object) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1].decode()
        try:
            if httpx.get(url + "/healthz", timeout=1, **kw).status_code == 200:  # type: ignore[arg-type]
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("tlsrpt serve did not come up")


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait()


def stop(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err.decode()


def test_serve_receives_and_stops_on_sigterm(
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    report_json: Callable[..., bytes],
) -> None:
    port = free_port()
    db = tmp_path / "serve.sqlite3"
    proc = start(["--db", f"sqlite:///{db}", "--port", str(port), "--log-format", "json"])
    procs.append(proc)
    url = f"http://127.0.0.1:{port}"
    wait_up(proc, url)
    r = httpx.post(
        url + "/v1/reports",
        content=gzip.compress(report_json()),
        # no trusted proxy configured: this header is ignored
        headers={"content-type": "application/tlsrpt+gzip", "x-forwarded-for": "203.0.113.9"},
    )
    assert r.status_code == 201
    code, err = stop(proc)
    assert code == 0, err
    assert "Traceback" not in err
    logs = [orjson.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(
        e["logger"] == "tlsrpt.receiver" and "accepted" in e["message"] and e["level"] == "info"
        for e in logs
    ), err
    # one line per request: the access log for /healthz, the receiver's own
    # (outcome, raw input) for the report
    access = [e["message"] for e in logs if e["logger"] == "tlsrpt.access"]
    assert any("GET /healthz" in m for m in access), err
    assert not any("/v1/reports" in m for m in access), err
    # the report is in the database the user named
    with open_store(f"sqlite:///{db}") as store, store.read() as conn:
        rows = conn.execute(
            sa.select(raw_inputs.c.outcome, raw_inputs.c.source_kind, raw_inputs.c.source_detail)
        ).all()
    assert [(o, k, d.split(":")[0]) for o, k, d in rows] == [("accepted", "http", "127.0.0.1")]


def test_serve_tls_config_file_and_env(
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    report_json: Callable[..., bytes],
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    port = free_port()
    config = tmp_path / "tlsrpt.toml"
    config.write_text(f'port = 1\nreports_path = "/in"\ncertfile = "{certfile}"\n')
    db_file = tmp_path / "db-url"
    db_file.write_text(f"sqlite:///{tmp_path / 'tls.sqlite3'}\n")
    proc = start(
        ["--config", str(config), "--keyfile", str(keyfile)],
        # env beats the file (port), *_FILE carries a secret (the DB URL)
        {"TLSRPT_PORT": str(port), "TLSRPT_DATABASE_URL_FILE": str(db_file)},
    )
    procs.append(proc)
    url = f"https://127.0.0.1:{port}"
    tls = ssl.create_default_context(cafile=str(cafile))
    wait_up(proc, url, verify=tls)
    r = httpx.post(
        url + "/in",
        content=report_json(),
        headers={"content-type": "application/tlsrpt+json"},
        verify=tls,
    )
    assert r.status_code == 201
    assert (tmp_path / "tls.sqlite3").exists()
    assert stop(proc)[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--certfile", "/nonexistent/cert.pem", "--keyfile", "/nonexistent/k.pem"],
            "no such file",
        ),
        (["--certfile", "/etc/hostname"], "give both or neither"),
        (["--port", "70000"], "out of range"),
        (["--config", "/nonexistent/tlsrpt.toml"], "cannot read"),
        (["--db", "mysql://x/y"], "unsupported database URL scheme"),
    ],
)
def test_serve_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    env = {**os.environ, "TLSRPT_DATABASE_URL": f"sqlite:///{tmp_path / 'u.sqlite3'}"}
    r = subprocess.run(
        [sys.executable, "-m", "tlsrpt", "serve", *args],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2
    assert message in r.stderr.decode()
    assert b"Traceback" not in r.stderr


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_serve_100mb_body_memory_bounded_and_proxy_address(
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    report_json: Callable[..., bytes],
) -> None:
    port = free_port()
    db = tmp_path / "big.sqlite3"
    proc = start(
        ["--db", f"sqlite:///{db}", "--port", str(port)],
        {"TLSRPT_TRUSTED_PROXIES": "127.0.0.1"},
    )
    procs.append(proc)
    url = f"http://127.0.0.1:{port}"
    wait_up(proc, url)
    before = _peak_rss_kib(proc.pid)

    def hundred_mb() -> Iterator[bytes]:
        block = b" " * (1024 * 1024)
        for _ in range(100):
            yield block

    try:
        r = httpx.post(
            url + "/v1/reports",
            content=hundred_mb(),
            headers={"content-type": "application/tlsrpt+json"},
            timeout=60,
        )
        assert r.status_code == 413
    except httpx.TransportError:
        pass  # the server may close the connection mid-upload after answering 413
    # the default 10 MiB limit bounds what the server ever held
    assert _peak_rss_kib(proc.pid) - before < 40 * 1024
    # still up, and a trusted proxy's X-Forwarded-For names the client
    r = httpx.post(
        url + "/v1/reports",
        content=report_json(),
        headers={"content-type": "application/tlsrpt+json", "x-forwarded-for": "198.51.100.7"},
    )
    assert r.status_code == 201
    assert stop(proc)[0] == 0
    with open_store(f"sqlite:///{db}") as store, store.read() as conn:
        details = conn.execute(sa.select(raw_inputs.c.source_detail)).scalars().all()
    assert [d.split(":")[0] for d in details] == ["198.51.100.7"]
