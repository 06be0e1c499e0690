"""`tlsrpt serve --demo` as a newcomer runs it: a real process on loopback
that prints the logins, serving a populated dashboard; it checks its port
before building anything and removes its temporary database on exit."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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


def _demo_dirs(tmpdir: Path) -> list[Path]:
    return sorted(tmpdir.glob("tlsrpt-demo-*"))


def _environment(tmpdir: Path) -> dict[str, str]:
    tmpdir.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmpdir)}  # where the demo database goes


def test_a_taken_port_is_refused_before_building_anything(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        answer = subprocess.run(
            [sys.executable, "-m", "tlsrpt", "serve", "--demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env=_environment(tmpdir),
        )
    assert answer.returncode == 2, answer.stderr
    hint = re.search(rf"port {port} is in use; try --port (\d+)", answer.stderr)
    assert hint is not None, answer.stderr
    assert int(hint.group(1)) > port
    assert "Traceback" not in answer.stderr and answer.stdout == ""  # no logins printed
    assert _demo_dirs(tmpdir) == []


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_the_temporary_database_is_removed_on_exit(tmp_path: Path, stop: signal.Signals) -> None:
    tmpdir = tmp_path / "tmp"
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tlsrpt", "serve", "--demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(tmpdir),
    )
    try:
        assert process.stdout is not None
        banner = "".join(process.stdout.readline() for _ in range(4))
        assert f"open http://127.0.0.1:{port}/" in banner
        (folder,) = _demo_dirs(tmpdir)
        assert str(folder) in banner  # the database line names it
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
    finally:
        process.send_signal(stop)
        process.wait(timeout=60)
    assert process.returncode == (0 if stop == signal.SIGTERM else 130)
    assert _demo_dirs(tmpdir) == []
