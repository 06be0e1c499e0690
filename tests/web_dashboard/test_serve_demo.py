"""`tlsrpt serve --demo` as a newcomer runs it: a real process on loopback
that prints the logins, serving a populated dashboard."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _login(client: httpx.Client, email: str, password: str) -> None:
    token = CSRF.search(client.get("/login").text)
    assert token is not None
    answer = client.post(
        "/login", data={"email": email, "password": password, "csrf": token.group(1)}
    )
    assert answer.status_code == 303


def test_serve_demo_prints_logins_and_serves_the_data(tmp_path: Path) -> None:
    port = _free_port()
    db = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    command = [sys.executable, "-m", "tlsrpt", "serve", "--demo", "--port", str(port), "--db", db]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        banner = "".join(lines)
        assert f"open http://127.0.0.1:{port}/" in banner
        logins = dict(re.findall(r"^  (\S+@\S+) / (\S+)  ", banner, re.M))
        assert set(logins) == {"admin@example.com", "customer@example.net"}
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        with httpx.Client(base_url=base) as admin:
            _login(admin, "admin@example.com", logins["admin@example.com"])
            overview = admin.get("/").text
            assert len(re.findall(r'<tr data-domain="', overview)) == 5
            assert "verdict-ready" in overview and "verdict-not-ready" in overview
            assert "verdict-insufficient-data" in overview
        with httpx.Client(base_url=base) as customer:
            _login(customer, "customer@example.net", logins["customer@example.net"])
            assert re.findall(r'<tr data-domain="([^"]+)"', customer.get("/").text) == [
                "shop.example.net"
            ]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0

    again = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2
    assert "already holds reports" in again.stderr
