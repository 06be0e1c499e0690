"""Alert e-mail through a real SMTP submission server on loopback (aiosmtpd,
STARTTLS or implicit TLS with a trustme certificate): both parts, the
escaping of hostile alert text, refusals, and the daily digest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from tlsrpt.channels import Channel, parse_channels
from tlsrpt.store import outbox
from tlsrpt.store.engine import Store

from .conftest import Clock, SmtpServer, deliver_once

HOSTILE = 'expires <script>alert("x")</script> & soon\r\nBcc: victim@example.net\x1b[2J'


def _channels(
    port: int, ca_file: str, scheme: str = "smtp://alerts:p%40ss@", **extra: Any
) -> tuple[Channel, ...]:
    table = {
        "type": "email",
        "name": "mail",
        "to": ["postmaster@example.com", "noc@example.com"],
        "from": "tlsrpt@example.com",
        "smtp_url": f"{scheme}127.0.0.1:{port}",
        "ca_file": ca_file,
        "timeout_s": 10,
        **extra,
    }
    return parse_channels([table])


def _enqueue(store: Store, channels: Any, clock: Clock, alert: dict[str, Any]) -> None:
    with store.write() as conn:
        outbox.enqueue(conn, "alert.firing", alert, channels, now=clock())


def _rows(store: Store) -> list[outbox.OutboxRow]:
    with store.read() as conn:
        return sorted(outbox.list_rows(conn, states=outbox.STATES), key=lambda r: r.id)


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_starttls_submission_with_both_parts_and_hostile_text_escaped(
    store: Store,
    smtp_starttls: SmtpServer,
    ca_file: str,
    clock: Clock,
    alert_factory: Callable[..., Any],
) -> None:
    channels = _channels(smtp_starttls.port, ca_file)
    alert = alert_factory(summary=HOSTILE, evidence=["<b>issuer</b>: Evil CA"])
    _enqueue(store, channels, clock, alert)
    assert deliver_once(store, channels, clock, public_url="https://tlsrpt.example.net/") == 2
    box = smtp_starttls.box
    assert sorted(rcpt for _, (rcpt,) in box.envelopes) == [
        "noc@example.com",
        "postmaster@example.com",
    ]
    assert {sender for sender, _ in box.envelopes} == {"tlsrpt@example.com"}
    message = box.messages[0]
    assert message["Bcc"] is None and "victim" not in str(message["To"])
    subject = str(message["Subject"])
    assert "\n" not in subject and "\x1b" not in subject
    assert subject.startswith("[tlsrpt] FIRING: example.com: expires <script>")
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text, html = _parts(message)
    assert 'expires <script>alert("x")</script> & soon' in text  # plain text: as is
    assert "\x1b" not in text and "\x1b" not in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;issuer&lt;/b&gt;" in html and "<b>issuer" not in html
    for part in (text, html):
        assert "Renew the certificate of mx1.example.com" in part  # the fix
        assert "2026-12-07T09:00:00Z" in part  # since when
        assert "https://tlsrpt.example.net/domains/example.com" in part
    rows = _rows(store)
    assert {r.state for r in rows} == {"delivered"}
    keys = {str(m["X-Tlsrpt-Idempotency-Key"]).strip() for m in box.messages}
    assert keys == {r.idempotency_key for r in rows}


def test_implicit_tls_submission(
    store: Store,
    smtp_implicit: SmtpServer,
    ca_file: str,
    clock: Clock,
    alert_factory: Callable[..., Any],
) -> None:
    channels = _channels(smtp_implicit.port, ca_file, scheme="smtps://")
    _enqueue(store, channels, clock, alert_factory())
    assert deliver_once(store, channels, clock) == 2
    assert len(smtp_implicit.box.messages) == 2


def test_untrusted_certificate_and_wrong_password_are_retried(
    store: Store,
    smtp_starttls: SmtpServer,
    ca_file: str,
    clock: Clock,
    alert_factory: Callable[..., Any],
    tmp_path: Any,
) -> None:
    import trustme

    other_ca = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    untrusted = _channels(smtp_starttls.port, str(other_ca))
    _enqueue(store, untrusted, clock, alert_factory())
    deliver_once(store, untrusted, clock)
    assert all("CERTIFICATE_VERIFY_FAILED" in (r.last_error or "") for r in _rows(store))
    clock.advance(minutes=1)
    wrong = _channels(smtp_starttls.port, ca_file, scheme="smtp://alerts:nope@")
    deliver_once(store, wrong, clock)
    rows = _rows(store)
    assert {(r.state, r.last_error) for r in rows} == {("pending", "login refused: 535")}
    assert smtp_starttls.box.messages == []


def test_refused_recipient_5xx_fails_4xx_retries(
    store: Store,
    smtp_starttls: SmtpServer,
    ca_file: str,
    clock: Clock,
    alert_factory: Callable[..., Any],
) -> None:
    smtp_starttls.box.refuse = {
        "postmaster@example.com": "550 5.1.1 no such user",
        "noc@example.com": "451 4.3.0 try later",
    }
    channels = _channels(smtp_starttls.port, ca_file)
    _enqueue(store, channels, clock, alert_factory())
    deliver_once(store, channels, clock)
    states = {r.recipient: (r.state, r.last_error) for r in _rows(store)}
    assert states == {
        "postmaster@example.com": ("failed", "recipient refused: 550 5.1.1 no such user"),
        "noc@example.com": ("pending", "recipient refused: 451 4.3.0 try later"),
    }


def test_daily_digest_one_message_per_recipient_after_the_day(
    store: Store,
    smtp_starttls: SmtpServer,
    ca_file: str,
    clock: Clock,
    alert_factory: Callable[..., Any],
) -> None:
    channels = _channels(smtp_starttls.port, ca_file, digest=True)
    _enqueue(store, channels, clock, alert_factory(1, summary="first <one>"))
    clock.advance(hours=5)
    _enqueue(store, channels, clock, alert_factory(2, domain="example.org", summary="second"))
    assert deliver_once(store, channels, clock) == 0  # collected, not sent during the day
    clock.now = dt.datetime(2026, 12, 8, 0, 30, tzinfo=dt.UTC)
    _enqueue(store, channels, clock, alert_factory(3, summary="third"))  # the next digest's
    # one row claimed brings the rest of its digest: one recipient's day
    assert deliver_once(store, channels, clock, batch_size=1) == 2
    assert deliver_once(store, channels, clock, batch_size=1) == 2
    assert deliver_once(store, channels, clock, batch_size=1) == 0
    box = smtp_starttls.box
    assert sorted(rcpt for _, (rcpt,) in box.envelopes) == [
        "noc@example.com",
        "postmaster@example.com",
    ]
    for message in box.messages:
        assert str(message["Subject"]) == "[tlsrpt] daily digest 2026-12-07: 2 firing, 0 resolved"
        text, html = _parts(message)
        assert "first <one>" in text and "second" in text and "third" not in text
        assert "first &lt;one&gt;" in html and "example.org" in html
    assert [r.state for r in _rows(store)] == ["delivered"] * 4 + ["pending"] * 2
