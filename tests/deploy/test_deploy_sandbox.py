"""`tlsrpt serve` under the system call sandbox of tlsrpt-serve.service
(SystemCallFilter, RestrictAddressFamilies, MemoryDenyWriteExecute, as
tests/deploy/sandbox_emulation.py imposes them without systemd): receiving
over HTTP and SMTP, the ingest helper process, argon2 logins, the dashboard
with its charts, the API and /metrics all work. Opt-in, as it needs
Debian's python3-seccomp and Linux 6.3 or newer:

    TLSRPT_TEST_SANDBOX=1 .venv/bin/pytest tests/deploy/test_deploy_sandbox.py
"""

from __future__ import annotations

import datetime as dt
import os
import re
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import orjson
import pytest

HERE = Path(__file__).parent
UNIT = HERE.parents[1] / "deploy" / "systemd" / "tlsrpt-serve.service"
SYSTEM_PYTHON = "/usr/bin/python3"
FIXTURE = HERE.parent / "fixtures" / "reports" / "conformant-minimal.json"
PASSWORD = "sandboxed password 1"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("TLSRPT_TEST_SANDBOX") != "1",
        reason="needs python3-seccomp and Linux 6.3+: set TLSRPT_TEST_SANDBOX=1",
    ),
]


def _report(report_id: str) -> bytes:
    """The fixture, dated today (so the overview's period shows it)."""
    doc = orjson.loads(FIXTURE.read_bytes())
    today = dt.datetime.now(dt.UTC).date().isoformat()
    doc["date-range"] = {
        "start-datetime": f"{today}T00:00:00Z",
        "end-datetime": f"{today}T23:59:59Z",
    }
    doc["report-id"] = report_id
    return orjson.dumps(doc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sandboxed(*argv: str) -> list[str]:
    return [
        SYSTEM_PYTHON,
        str(HERE / "sandbox_emulation.py"),
        str(UNIT),
        sys.executable,
        "-m",
        "tlsrpt",
        *argv,
    ]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int, dict[str, str]]]:
    env = {
        **os.environ,
        "TLSRPT_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "TLSRPT_WATCH_INTERVAL": "0",
        "TLSRPT_SMTP_PORT": str(_free_port()),
        "TLSRPT_SMTP_RECIPIENTS": "tlsrpt@example.com",
        "TLSRPT_SMTP_ACCEPT_UNSIGNED": "1",
        "TLSRPT_DNS_NAMESERVERS": "127.0.0.1",
        "TLSRPT_DNS_PORT": str(_free_port()),  # nothing answers: no DKIM key
    }
    user = subprocess.run(
        _sandboxed("user", "add", "admin@example.com", "--admin", "--password-stdin"),
        input=PASSWORD + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert user.returncode == 0, user.stderr
    port = _free_port()
    server = subprocess.Popen(
        _sandboxed("serve", "--port", str(port)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[1].decode()[-4000:]
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "tlsrpt serve did not come up"
                time.sleep(0.1)
        yield base, int(env["TLSRPT_SMTP_PORT"]), env
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    assert server.returncode == 0, err.decode()[-4000:]
    assert b"Traceback" not in err, err.decode()[-4000:]
    assert b"sandbox of " in err  # it did run inside


def test_serve_works_inside_the_units_sandbox(served: tuple[str, int, dict[str, str]]) -> None:
    base, smtp_port, env = served
    assert httpx.get(base + "/readyz").json() == {"status": "ok", "database": "ok"}
    # HTTP report: parsed and stored by the ingest helper process
    posted = httpx.post(
        base + "/v1/reports",
        content=_report("sandbox-http"),
        headers={"content-type": "application/tlsrpt+json"},
    )
    assert posted.status_code == 201, posted.text
    # SMTP report: the DKIM lookup fails (a temporary error) or it is stored
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = (
        "reports@sender.example",
        "tlsrpt@example.com",
        "Report Domain: example.org Submitter: sender.example Report-ID: <1@sender.example>",
    )
    message.add_attachment(
        _report("sandbox-smtp"), maintype="application", subtype="tlsrpt+json", filename="r.json"
    )
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
        try:
            refused = smtp.send_message(message)
            code = 250 if not refused else 0
        except smtplib.SMTPDataError as exc:
            code = exc.smtp_code
    assert code in (250, 450, 451), code
    # an argon2 login, the dashboard and its charts
    with httpx.Client(base_url=base, follow_redirects=True) as client:
        form = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        login = client.post(
            "/login",
            data={"email": "admin@example.com", "password": PASSWORD, "csrf": csrf[1], "next": "/"},
        )
        assert login.status_code == 200 and "example.org" in login.text
        domain = client.get("/domains/example.org")
        assert domain.status_code == 200 and "<svg" in domain.text
    # an API token and a call with it; the metrics
    token = subprocess.run(
        _sandboxed("token", "create", "admin@example.com", "--json"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert token.returncode == 0, token.stderr
    bearer = re.search(r'"token": ?"([^"]+)"', token.stdout)
    assert bearer is not None
    domains = httpx.get(base + "/api/v1/domains", headers={"authorization": f"Bearer {bearer[1]}"})
    assert domains.status_code == 200
    assert "example.org" in {d["domain"] for d in domains.json()["domains"]}
    assert "tlsrpt_receiver_requests_total" in httpx.get(base + "/metrics").text


def test_the_sandbox_refuses_what_the_unit_forbids() -> None:
    probe = (
        "import mmap, os, socket\n"
        "for attempt in (lambda: mmap.mmap(-1, 4096, prot=7),"
        " lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW),"
        " lambda: os.chown('/', 0, 0)):\n"
        "    try:\n        attempt()\n        print('allowed')\n"
        "    except OSError as exc:\n        print(exc.errno)\n"
    )
    done = subprocess.run(
        [SYSTEM_PYTHON, str(HERE / "sandbox_emulation.py"), str(UNIT), sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # W+X memory (MemoryDenyWriteExecute), netlink (RestrictAddressFamilies),
    # chown (SystemCallFilter=~@privileged)
    assert done.stdout.split() == ["13", "97", "1"]
