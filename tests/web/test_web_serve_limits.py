"""`tlsrpt serve` under pressure, as a real process on loopback: far more
idle connections than its descriptor limit, and 100 concurrent 10 MiB
bodies. Memory is read from /proc (VmRSS, VmHWM) of the server process."""

from __future__ import annotations

import asyncio
import collections
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

MiB = 1024 * 1024
SERVER_NOFILE = 256  # the server's descriptor limit (soft and hard)
IDLE_CONNECTIONS = 1500

Serve = Callable[..., tuple[subprocess.Popen[bytes], str]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _low_nofile() -> None:  # in the child, before exec
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_NOFILE, SERVER_NOFILE))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    started: list[subprocess.Popen[bytes]] = []

    def start(
        env: dict[str, str], *, low_nofile: bool = False
    ) -> tuple[subprocess.Popen[bytes], str]:
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tlsrpt", "serve", "--port", str(port)],
            env={
                **os.environ,
                "TLSRPT_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
                **env,
            },
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "serve.log", "wb"),  # noqa: SIM115
            preexec_fn=_low_nofile if low_nofile else None,
        )
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    return proc, url
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail("tlsrpt serve did not come up")

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _status_mib(pid: int) -> dict[str, float]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


def test_healthz_answers_while_1500_idle_connections_are_attempted(
    serve: Serve, tmp_path: Path
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE_CONNECTIONS + 200
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"this process may open {hard} descriptors, the test needs {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    proc, url = serve({"TLSRPT_HEADER_TIMEOUT_S": "2"}, low_nofile=True)
    port = int(url.rsplit(":", 1)[1])
    idle: list[socket.socket] = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            sock = socket.socket()
            sock.settimeout(10)
            try:
                sock.connect(("127.0.0.1", port))
            except OSError:  # refused: fine, as long as it is not the server failing
                sock.close()
                continue
            idle.append(sock)
        # a newcomer gets in, and so does a report sender
        assert httpx.get(url + "/healthz", timeout=20).status_code == 200
        r = httpx.post(
            url + "/v1/reports",
            content=b"{}",
            headers={"content-type": "application/json"},
            timeout=20,
        )
        assert r.status_code == 400  # answered (quarantined: no report)
        # the server stayed within its descriptors
        assert len(os.listdir(f"/proc/{proc.pid}/fd")) < SERVER_NOFILE
    finally:
        for sock in idle:
            sock.close()
    assert proc.poll() is None
    log = (tmp_path / "serve.log").read_text()
    assert "max_connections lowered from 1000 to 128" in log
    assert "Traceback" not in log


async def _post_10mib(port: int, n: int) -> tuple[int, bool]:
    """POST a distinct unusable 10 MiB body; stop sending once answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    block = b"x" * (256 * 1024)
    writer.write(
        b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\n"
        b"Content-Length: %d\r\n\r\n" % (10 * MiB)
    )

    async def send() -> None:
        writer.write(b"{%05d" % n + block[6:])
        for _ in range(10 * 4 - 1):
            writer.write(block)
            await writer.drain()

    sending = asyncio.create_task(send())
    status = int((await reader.readline()).split()[1])
    headers = []
    while (line := await reader.readline()) not in (b"\r\n", b""):
        headers.append(line.lower())
    if status < 500:  # an answer to the whole body: let it finish
        await sending
    sending.cancel()
    writer.close()
    return status, any(h.startswith(b"retry-after:") for h in headers)


def test_100_concurrent_10mib_bodies_keep_the_server_under_its_memory_bound(
    serve: Serve,
) -> None:
    """Bound: the server's peak resident memory (VmHWM) stays within its
    idle resident memory plus twice max_inflight_body_bytes (64 MiB here);
    before the bound it took 1.5 GB. Afterwards it gives the memory back
    (VmRSS within 48 MiB of idle)."""
    inflight = 64 * MiB
    proc, url = serve({"TLSRPT_MAX_INFLIGHT_BODY_BYTES": str(inflight)})
    pid = proc.pid
    port = int(url.rsplit(":", 1)[1])
    idle = _status_mib(pid)["VmRSS"]

    async def burst() -> list[tuple[int, bool]]:
        return await asyncio.gather(*(_post_10mib(port, n) for n in range(100)))

    answers = collections.Counter(asyncio.run(burst()))
    statuses = {status for status, _ in answers}
    assert statuses <= {400, 429, 503}, answers
    assert answers[(503, True)] > 0 and answers[(503, False)] == 0, answers  # Retry-After
    assert answers[(400, False)] > 0, answers  # bodies within the bound were taken
    peak = _status_mib(pid)["VmHWM"]
    assert peak <= idle + 2 * inflight / MiB, (idle, peak, answers)
    assert httpx.get(url + "/healthz").status_code == 200
    assert _status_mib(pid)["VmRSS"] <= idle + 48, (idle, _status_mib(pid))
