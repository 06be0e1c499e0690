"""`tlsrpt ingest-mail`: one message on stdin, sysexits(3) exit codes for MTAs."""

from __future__ import annotations

import getpass
import gzip
import os
import socket
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import pytest

REPORT = {
    "organization-name": "Mail Sender",
    "date-range": {
        "start-datetime": "2026-11-02T00:00:00Z",
        "end-datetime": "2026-11-02T23:59:59Z",
    },
    "contact-info": "tlsrpt@sender.example",
    "report-id": "2026-11-02_mail",
    "policies": [
        {
            "policy": {"policy-type": "no-policy-found", "policy-domain": "example.org"},
            "summary": {"total-successful-session-count": 3, "total-failure-session-count": 0},
        }
    ],
}


def message(payload: bytes | None = None) -> bytes:
    """A multipart/report; report-type="tlsrpt" message (RFC 8460 §5.3)."""
    msg = EmailMessage()
    msg["From"] = "tlsrpt@sender.example"
    msg["To"] = "reports@example.org"
    msg["Subject"] = (
        "Report Domain: example.org Submitter: sender.example Report-ID: <m1@sender.example>"
    )
    msg["TLS-Report-Domain"] = "example.org"
    msg["TLS-Report-Submitter"] = "sender.example"
    msg.set_content("TLS report\n")
    msg.add_attachment(
        payload if payload is not None else gzip.compress(orjson.dumps(REPORT)),
        maintype="application",
        subtype="tlsrpt+gzip",
        filename="sender.example!example.org!1793577600!1793663999.json.gz",
    )
    msg.replace_header("Content-Type", 'multipart/report; report-type="tlsrpt"')
    return msg.as_bytes()


def ingest_mail(stdin: bytes, db: str, *extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tlsrpt", "ingest-mail", "--db", db, *extra],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "TLSRPT_DATABASE_URL"},
    )


def test_accepted_duplicate_quarantined_all_exit_0(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'mail.sqlite3'}"
    first = ingest_mail(message(), db, "--json", "--accept-unsigned")
    assert first.returncode == 0, first.stderr
    assert orjson.loads(first.stdout)["outcome"] == "accepted"
    assert orjson.loads(first.stdout)["dkim"]["dkim"] == "none"
    again = ingest_mail(message(), db, "--json", "--accept-unsigned")
    assert again.returncode == 0
    assert orjson.loads(again.stdout)["outcome"] == "duplicate"
    broken = ingest_mail(message(b"\x1f\x8bnot really gzip"), db, "--json", "--accept-unsigned")
    assert broken.returncode == 0  # kept in quarantine: the MTA must not retry
    out = orjson.loads(broken.stdout)
    assert out["outcome"] == "quarantined"
    assert out["reason"]
    text = ingest_mail(b"not a mail at all", db)
    assert text.returncode == 0
    assert b"quarantined" in text.stdout


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_store_unavailable_is_tempfail(kind: str) -> None:
    db = {
        "sqlite": "sqlite:////nonexistent-dir/sub/mail.sqlite3",
        "postgresql": f"postgresql://tlsrpt@127.0.0.1:{_closed_port()}/tlsrpt",
    }[kind]
    r = ingest_mail(message(), db)
    assert r.returncode == 75  # EX_TEMPFAIL: the MTA queues and retries
    assert b"try again later" in r.stderr
    assert b"Traceback" not in r.stderr


def test_oversized_message_is_dataerr(tmp_path: Path) -> None:
    big = b"Subject: big\r\n\r\n" + b"x" * (25 * 1024 * 1024 + 1)
    r = ingest_mail(big, f"sqlite:///{tmp_path / 'big.sqlite3'}")
    assert r.returncode == 65
    assert b"exceeds" in r.stderr
    assert not (tmp_path / "big.sqlite3").exists()


def test_dkim_policy(tmp_path: Path, kit: Any, dns_server: Any, key: tuple[bytes, str]) -> None:
    """RFC 8460 §3; docs/conformance.md#dkim-required, #dkim-alignment: signed by an aligned domain:
    accepted; unsigned: quarantined; DNS failure: 75 so the MTA retries."""
    kit.publish(dns_server, "sender.example", key[1])
    db = f"sqlite:///{tmp_path / 'dkim.sqlite3'}"
    ns = ["--nameserver", f"127.0.0.1:{dns_server.port}", "--json"]
    unsigned = ingest_mail(message(), db, *ns)
    assert unsigned.returncode == 0, unsigned.stderr
    out = orjson.loads(unsigned.stdout)
    assert out["outcome"] == "quarantined"
    assert "DKIM" in out["reason"]
    signed = kit.signed(message().replace(b"\n", b"\r\n"), key[0], "sender.example")
    ok = ingest_mail(signed, db, *ns)
    assert ok.returncode == 0, ok.stderr
    out = orjson.loads(ok.stdout)
    assert (out["outcome"], out["dkim"]["dkim"], out["dkim"]["dkim_aligned"]) == (
        "accepted",
        "pass",
        True,
    )
    dns_server.servfail.add("mail._domainkey.sender.example.")
    retry = ingest_mail(kit.signed(message(b"\x1f\x8bx"), key[0], "sender.example"), db, *ns)
    assert retry.returncode == 75
    assert b"try again later" in retry.stderr


@pytest.mark.parametrize("value", ["127.0.0.1:0", ":53", "127.0.0.1:x"])
def test_bad_nameserver_is_usage_error(tmp_path: Path, value: str) -> None:
    r = ingest_mail(message(), f"sqlite:///{tmp_path / 'n.sqlite3'}", "--nameserver", value)
    assert r.returncode == 2
    assert b"expected HOST or HOST:PORT" in r.stderr


def shown_meta(db: str, raw_id: int) -> Any:
    """`source_meta` of `tlsrpt quarantine show ID --json`."""
    argv = ["quarantine", "show", str(raw_id), "--db", db, "--json"]
    shown = subprocess.run(
        [sys.executable, "-m", "tlsrpt", *argv], capture_output=True, check=True, timeout=60
    )
    return orjson.loads(shown.stdout)["source_meta"]


def test_repipe_with_accept_unsigned_releases_the_held_copy(
    tmp_path: Path, dns_server: Any
) -> None:
    """The same bytes piped again with --accept-unsigned do what the flag
    says: the held input is stored as a report, and who did it is recorded
    (RFC 8460 §3). Without the flag a second pipe changes nothing."""
    db = f"sqlite:///{tmp_path / 'repipe.sqlite3'}"
    mail = message()  # one set of bytes (a new message has a new MIME boundary)
    ns = ["--nameserver", f"127.0.0.1:{dns_server.port}", "--json"]
    held = orjson.loads(ingest_mail(mail, db, *ns).stdout)
    assert (held["outcome"], held["reason_code"]) == ("quarantined", "held")
    again = orjson.loads(ingest_mail(mail, db, *ns).stdout)
    assert (again["outcome"], again["reason_code"]) == ("quarantined", "same-bytes")

    released = ingest_mail(mail, db, *ns, "--accept-unsigned")
    assert released.returncode == 0, released.stderr
    out = orjson.loads(released.stdout)
    assert (out["outcome"], out["raw_id"], out["released_unsigned"]) == (
        "accepted",
        held["raw_id"],
        True,
    )
    assert len(out["report_ids"]) == 1
    meta = shown_meta(db, held["raw_id"])
    assert meta["dkim"] == "none"
    assert meta["accepted_unsigned"]["by"] == getpass.getuser()
    assert meta["accepted_unsigned"]["how"] == "ingest-mail --accept-unsigned"
    # Once released, the same bytes again are a duplicate like any other.
    last = orjson.loads(ingest_mail(mail, db, *ns, "--accept-unsigned").stdout)
    assert (last["outcome"], last["released_unsigned"]) == ("duplicate", False)


def test_first_pipe_with_accept_unsigned_records_who(tmp_path: Path, dns_server: Any) -> None:
    db = f"sqlite:///{tmp_path / 'first.sqlite3'}"
    ns = ["--nameserver", f"127.0.0.1:{dns_server.port}", "--json"]
    out = orjson.loads(ingest_mail(message(), db, *ns, "--accept-unsigned").stdout)
    assert (out["outcome"], out["released_unsigned"]) == ("accepted", False)
    record = shown_meta(db, out["raw_id"])["accepted_unsigned"]
    assert (record["by"], record["how"]) == (getpass.getuser(), "ingest-mail --accept-unsigned")
