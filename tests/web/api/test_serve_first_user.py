"""`tlsrpt serve` on a database without users says how to create the first
one (the dashboard and API need a login); once there is one, it does not."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tlsrpt.cli.serve import FIRST_USER_HINT
from tlsrpt.store.engine import open_store
from tlsrpt.store.users import add_user


def _serve_once(db: str) -> str:
    """Start `tlsrpt serve`, wait until it answers, stop it; its stderr."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "TLSRPT_DATABASE_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlsrpt", "serve", "--db", db, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[1].decode()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("tlsrpt serve did not come up")
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    return err.decode()


def test_serve_says_how_to_create_the_first_user(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    err = _serve_once(db)
    assert FIRST_USER_HINT in err
    assert "tlsrpt user add EMAIL --admin" in err
    with open_store(db) as store, store.write() as conn:
        add_user(conn, "admin@example.com", "correct horse battery", admin=True)
    assert "no users yet" not in _serve_once(db)
