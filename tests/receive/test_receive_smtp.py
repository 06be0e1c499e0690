"""SMTP receiver end to end: aiosmtpd on loopback, smtplib client, DKIM keys
from a loopback DNS server, SQLite store (RFC 8460 §3, §5.3; docs/conformance.md#dkim-required,
#dkim-alignment)."""

from __future__ import annotations

import getpass
import gzip
import smtplib
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from tlsrpt.ingest.pipeline import reprocess
from tlsrpt.receive.dkim_verify import unsigned_release
from tlsrpt.receive.smtp import Recipients, ReportHandler, smtp_kwargs
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.schema import raw_inputs

REPORT = {
    "organization-name": "Mail.ru",
    "date-range": {
        "start-datetime": "2026-11-03T00:00:00Z",
        "end-datetime": "2026-11-03T23:59:59Z",
    },
    "contact-info": "tlsrpt@mail.ru",
    "report-id": "2026-11-03_smtp",
    "policies": [
        {
            "policy": {"policy-type": "no-policy-found", "policy-domain": "example.org"},
            "summary": {"total-successful-session-count": 5, "total-failure-session-count": 0},
        }
    ],
}
LIMIT = 256 * 1024


def report_message(report_id: str = "2026-11-03_smtp", contact: str = "tlsrpt@mail.ru") -> bytes:
    msg = EmailMessage()
    msg["From"] = "tlsrpt@mail.ru"
    msg["To"] = "tlsrpt@example.org"
    msg["Subject"] = "Report Domain: example.org Submitter: mail.ru Report-ID: <1@mail.ru>"
    msg["TLS-Report-Domain"] = "example.org"
    msg["TLS-Report-Submitter"] = "mail.ru"
    msg.set_content("TLS report\n")
    msg.add_attachment(
        gzip.compress(orjson.dumps({**REPORT, "report-id": report_id, "contact-info": contact})),
        maintype="application",
        subtype="tlsrpt+gzip",
        filename="mail.ru!example.org!1793664000!1793750399.json.gz",
    )
    msg.replace_header("Content-Type", 'multipart/report; report-type="tlsrpt"')
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'smtp.sqlite3'}") as s:
        yield s


def run_smtp(store: Store, dnsfunc: Any, **options: Any) -> Controller:
    handler = ReportHandler(
        store, Recipients(["tlsrpt@example.org", "@reports.example.net"]), dnsfunc, **options
    )
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **smtp_kwargs(LIMIT))
    controller.start()
    return controller


def send(
    controller: Controller, message: bytes, to: str = "tlsrpt@example.org"
) -> tuple[int, bytes]:
    with smtplib.SMTP(controller.hostname, controller.port, timeout=30) as client:
        client.ehlo("sender.mail.ru")
        try:
            client.sendmail("bounce@mail.ru", [to], message)
        except smtplib.SMTPRecipientsRefused as exc:
            return exc.recipients[to]
        except smtplib.SMTPResponseException as exc:
            return exc.smtp_code, exc.smtp_error
        return 250, b""


def rows(store: Store) -> list[Any]:
    with store.read() as conn:
        return list(conn.execute(sa.select(raw_inputs).order_by(raw_inputs.c.id)))


@pytest.fixture
def signer(kit: Any, dns_server: Any, key: tuple[bytes, str]) -> Any:
    kit.publish(dns_server, "corp.mail.ru", key[1])
    return lambda msg: kit.signed(msg, key[0], "corp.mail.ru")


def test_signed_report_accepted_then_duplicate(
    store: Store, kit: Any, dns_server: Any, signer: Any
) -> None:
    # RFC 8460 §3; docs/conformance.md#dkim-alignment: d=corp.mail.ru aligned with Submitter mail.ru
    smtp = run_smtp(store, kit.lookup(dns_server))
    try:
        message = signer(report_message())
        assert send(smtp, message) == (250, b"")
        assert send(smtp, message, to="any@reports.example.net") == (250, b"")
    finally:
        smtp.stop()
    stored = rows(store)
    assert len(stored) == 1  # same bytes: one raw input
    assert stored[0].outcome == "accepted"
    assert stored[0].source_kind == "smtp"
    meta = orjson.loads(stored[0].source_meta)
    assert (meta["dkim"], meta["dkim_domain"], meta["dkim_aligned"]) == (
        "pass",
        "corp.mail.ru",
        True,
    )


def test_unsigned_report_quarantined(store: Store, kit: Any, dns_server: Any) -> None:
    # RFC 8460 §3: kept, not counted; a retry does not release it (the stored
    # verdict stands), an explicit release does and is recorded.
    smtp = run_smtp(store, kit.lookup(dns_server))
    try:
        assert send(smtp, report_message())[0] == 250
    finally:
        smtp.stop()
    (row,) = rows(store)
    assert row.outcome == "quarantined"
    assert "DKIM" in row.reason
    assert orjson.loads(row.source_meta)["dkim"] == "none"
    (retried,) = reprocess(store, [row.id])
    assert (retried.outcome, retried.reason_code) == ("quarantined", "held")
    (released,) = reprocess(store, [row.id], release=unsigned_release("test"))
    assert released.outcome == "accepted"
    (row,) = rows(store)
    assert orjson.loads(row.source_meta)["accepted_unsigned"]["how"] == "test"


def test_unsigned_report_accept_and_flag(store: Store, kit: Any, dns_server: Any) -> None:
    smtp = run_smtp(store, kit.lookup(dns_server), accept_unsigned=True)
    try:
        assert send(smtp, report_message())[0] == 250
    finally:
        smtp.stop()
    (row,) = rows(store)
    assert row.outcome == "accepted"
    meta = orjson.loads(row.source_meta)
    assert meta["dkim"] == "none"
    record = meta["accepted_unsigned"]  # flagged: who let it in, and how
    assert (record["by"], record["how"]) == (getpass.getuser(), "smtp_accept_unsigned setting")


def test_dns_failure_is_450_and_nothing_stored(
    store: Store, kit: Any, dns_server: Any, signer: Any
) -> None:
    dns_server.servfail.add("mail._domainkey.corp.mail.ru.")
    smtp = run_smtp(store, kit.lookup(dns_server))
    try:
        code, _ = send(smtp, signer(report_message()))
    finally:
        smtp.stop()
    assert code == 450
    assert rows(store) == []


def test_unknown_recipient_refused_never_relay(store: Store, kit: Any, dns_server: Any) -> None:
    smtp = run_smtp(store, kit.lookup(dns_server))
    try:
        code, text = send(smtp, report_message(), to="victim@elsewhere.example")
        assert code == 550
        assert b"not accepted" in text
        assert send(smtp, report_message(), to="tlsrpt@example.org.evil")[0] == 550
    finally:
        smtp.stop()
    assert rows(store) == []


def test_oversized_message_552(store: Store, kit: Any, dns_server: Any) -> None:
    smtp = run_smtp(store, kit.lookup(dns_server))
    try:
        big = report_message() + b"x" * (LIMIT + 10) + b"\r\n"
        assert send(smtp, big)[0] == 552
        assert send(smtp, report_message())[0] == 250  # still serving
    finally:
        smtp.stop()
    assert len(rows(store)) == 1


def test_store_unavailable_is_451(tmp_path: Path, kit: Any, dns_server: Any, signer: Any) -> None:
    db = tmp_path / "gone.sqlite3"
    store = open_store(f"sqlite:///{db}")
    with store.write() as conn:
        conn.exec_driver_sql("DROP TABLE raw_inputs")  # the store can no longer take input
    smtp = run_smtp(store, kit.lookup(dns_server))
    try:
        assert send(smtp, signer(report_message()))[0] == 451
    finally:
        smtp.stop()
        store.close()


def test_recipients_config() -> None:
    r = Recipients(["TLSRPT@Example.org", "@reports.example.net", "example.com"])
    assert "tlsrpt@example.org" in r
    assert "<a@reports.example.net>" in r
    assert "x@example.com" in r
    assert "x@sub.example.com" not in r
    assert "other@example.org" not in r
    with pytest.raises(ValueError, match="at least one"):
        Recipients([" "])


def test_signer_aligned_with_contact_info(
    store: Store, kit: Any, dns_server: Any, key: tuple[bytes, str]
) -> None:
    """RFC 8460 §3; docs/conformance.md#dkim-alignment: d= may match the contact-info domain instead
    of the Submitter."""
    kit.publish(dns_server, "reports.example.com", key[1])
    smtp = run_smtp(store, kit.lookup(dns_server))
    try:
        aligned = report_message("contact-1", contact="tlsrpt@example.com")
        unaligned = report_message("contact-2", contact="tlsrpt@other.example")
        assert send(smtp, kit.signed(aligned, key[0], "reports.example.com"))[0] == 250
        assert send(smtp, kit.signed(unaligned, key[0], "reports.example.com"))[0] == 250
    finally:
        smtp.stop()
    first, second = rows(store)
    assert first.outcome == "accepted"
    assert orjson.loads(first.source_meta)["dkim_aligned"] is True
    assert second.outcome == "quarantined"
    assert "not aligned" in second.reason
