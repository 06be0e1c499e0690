"""`tlsrpt serve` with the SMTP receiver configured: a real process, STARTTLS
with a trustme certificate, DKIM keys from a loopback DNS server."""

from __future__ import annotations

import gzip
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import trustme

from tlsrpt.store.engine import open_store
from tlsrpt.store.schema import raw_inputs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def report_message() -> bytes:
    report = {
        "organization-name": "Mail.ru",
        "date-range": {
            "start-datetime": "2026-11-04T00:00:00Z",
            "end-datetime": "2026-11-04T23:59:59Z",
        },
        "contact-info": "tlsrpt@mail.ru",
        "report-id": "2026-11-04_serve",
        "policies": [
            {
                "policy": {"policy-type": "no-policy-found", "policy-domain": "example.org"},
                "summary": {"total-successful-session-count": 2, "total-failure-session-count": 0},
            }
        ],
    }
    msg = EmailMessage()
    msg["From"] = "tlsrpt@mail.ru"
    msg["To"] = "tlsrpt@example.org"
    msg["Subject"] = "Report Domain: example.org Submitter: mail.ru Report-ID: <2@mail.ru>"
    msg["TLS-Report-Domain"] = "example.org"
    msg["TLS-Report-Submitter"] = "mail.ru"
    msg.set_content("TLS report\n")
    msg.add_attachment(
        gzip.compress(orjson.dumps(report)),
        maintype="application",
        subtype="tlsrpt+gzip",
        filename="r.json.gz",
    )
    msg.replace_header("Content-Type", 'multipart/report; report-type="tlsrpt"')
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_serve_runs_smtp_receiver(
    tmp_path: Path, kit: Any, dns_server: Any, key: tuple[bytes, str]
) -> None:
    kit.publish(dns_server, "corp.mail.ru", key[1])
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    http_port, smtp_port = free_port(), free_port()
    db = tmp_path / "serve-smtp.sqlite3"
    config = tmp_path / "tlsrpt.toml"
    config.write_text(
        f'database_url = "sqlite:///{db}"\nport = {http_port}\nsmtp_port = {smtp_port}\n'
        f'smtp_recipients = ["tlsrpt@example.org"]\ncertfile = "{certfile}"\nkeyfile = "{keyfile}"\n'
        f'dns_nameservers = ["127.0.0.1"]\ndns_port = {dns_server.port}\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlsrpt", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_")},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[1].decode()
            try:
                client = smtplib.SMTP("127.0.0.1", smtp_port, timeout=30)
                break
            except OSError:
                assert time.monotonic() < deadline, "SMTP receiver did not come up"
                time.sleep(0.1)
        with client:
            client.ehlo("mx.mail.ru")
            client.starttls(context=_ctx(ca))
            client.ehlo("mx.mail.ru")
            message = kit.signed(report_message(), key[0], "corp.mail.ru")
            assert client.sendmail("bounce@mail.ru", ["tlsrpt@example.org"], message) == {}
            client.mail("bounce@mail.ru")
            code, _ = client.rcpt("someone@elsewhere.example")
            assert code == 550  # never a relay
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()
        assert b"Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with open_store(f"sqlite:///{db}") as store, store.read() as conn:
        (row,) = conn.execute(sa.select(raw_inputs)).all()
    assert (row.outcome, row.source_kind) == ("accepted", "smtp")
    assert orjson.loads(row.source_meta)["dkim"] == "pass"


def _ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx
