"""Sending one notification (or one digest) to one channel: the thin I/O
under the deliverer. Each returns an `Outcome`: delivered, to be retried,
or failed for good.

- webhook: an HTTP POST (httpx) of the stored JSON body, signed
  `X-Tlsrpt-Signature: sha256=<hex HMAC-SHA256 of the body>` with the
  channel's secret, with `Idempotency-Key`. 2xx: delivered. 4xx other than
  408 and 429: failed for good (the receiver refuses this request, sending
  it again changes nothing; the error is kept for `tlsrpt alerts outbox`).
  3xx (redirects are not followed), 408, 429, 5xx, timeouts, connection
  errors: retried (a `Retry-After` is honoured as the least delay).
- email: SMTP submission (smtplib, in a thread): STARTTLS (RFC 3207) or
  implicit TLS (RFC 8314 §3), AUTH when the URL has a user. A 5xx reply to
  MAIL, RCPT or DATA fails for good; everything else (4xx, refused login,
  TLS and connection errors) is retried.
- apprise: `Apprise.notify` (in a thread); Apprise does not say why a
  service failed in a way to act on, so every failure is retried, with the
  warnings it logged as the error.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import httpx

from tlsrpt import __version__
from tlsrpt.channels import AppriseChannel, EmailChannel, WebhookChannel

RETRY_AFTER_MAX_S = 24 * 3600.0
ERROR_BODY_CHARS = 200


@dataclass(frozen=True, slots=True)
class Outcome:
    delivered: bool
    permanent: bool = False
    error: str | None = None
    retry_after_s: float | None = None

    @classmethod
    def ok(cls) -> Outcome:
        return cls(True)

    @classmethod
    def retry(cls, error: str, retry_after_s: float | None = None) -> Outcome:
        return cls(False, False, error, retry_after_s)

    @classmethod
    def fail(cls, error: str) -> Outcome:
        return cls(False, True, error)


def signature(secret: str, body: bytes) -> str:
    """The `X-Tlsrpt-Signature` value: `sha256=` and the hex HMAC-SHA256
    (RFC 2104) of the exact body, keyed with the channel's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _retry_after(value: str | None) -> float | None:
    """RFC 9110 §10.2.3: seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_MAX_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, min((when - datetime.now(UTC)).total_seconds(), RETRY_AFTER_MAX_S))


async def send_webhook(
    client: httpx.AsyncClient, channel: WebhookChannel, body: str, key: str, event: str
) -> Outcome:
    data = body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"tlsrpt/{__version__}",
        "X-Tlsrpt-Event": event,
        "X-Tlsrpt-Signature": signature(channel.secret, data),
        "Idempotency-Key": key,
    }
    try:
        response = await client.post(
            channel.url, content=data, headers=headers, timeout=channel.timeout_s
        )
    except httpx.TimeoutException:
        return Outcome.retry(f"no answer within {channel.timeout_s:g} s")
    except httpx.HTTPError as exc:
        return Outcome.retry(f"{type(exc).__name__}: {exc}")
    status = response.status_code
    if 200 <= status < 300:
        return Outcome.ok()
    text = " ".join(response.text[:ERROR_BODY_CHARS].split())
    error = f"HTTP {status} {response.reason_phrase}" + (f": {text}" if text else "")
    if 300 <= status < 400:
        where = response.headers.get("location", "?")
        return Outcome.retry(f"{error} (redirect to {where} not followed: fix the url)")
    if 400 <= status < 500 and status not in (408, 429):
        return Outcome.fail(error)
    return Outcome.retry(error, _retry_after(response.headers.get("retry-after")))


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


def _submit(channel: EmailChannel, recipient: str, message: EmailMessage) -> Outcome:
    server = channel.server
    context = _tls_context(channel.ca_file)
    smtp: smtplib.SMTP
    if server.implicit_tls:
        smtp = smtplib.SMTP_SSL(
            server.host, server.port, timeout=channel.timeout_s, context=context
        )
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=channel.timeout_s)
    with smtp:
        if not server.implicit_tls and channel.starttls:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                return Outcome.retry(f"{server.host}:{server.port} does not offer STARTTLS")
            smtp.starttls(context=context)
        if server.user is not None:
            smtp.login(server.user, server.password or "")
        smtp.send_message(message, from_addr=channel.sender, to_addrs=[recipient])
    return Outcome.ok()


def _smtp_outcome(exc: Exception) -> Outcome:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        error = f"recipient refused: {code} {reply.decode(errors='replace')}"
        return Outcome.fail(error) if code >= 500 else Outcome.retry(error)
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        said = exc.smtp_error  # bytes from smtplib; the exception's type also allows str
        text = said.decode(errors="replace") if isinstance(said, bytes) else said
        error = f"{exc.smtp_code} {text}"
        return Outcome.fail(error) if exc.smtp_code >= 500 else Outcome.retry(error)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return Outcome.retry(f"login refused: {exc.smtp_code}")
    return Outcome.retry(f"{type(exc).__name__}: {exc}")


async def send_email(channel: EmailChannel, recipient: str, message: EmailMessage) -> Outcome:
    try:
        return await asyncio.to_thread(_submit, channel, recipient, message)
    except (smtplib.SMTPException, OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        return _smtp_outcome(exc)


def _apprise_notify(channel: AppriseChannel, title: str, body: str) -> Outcome:
    import apprise

    sender = apprise.Apprise()
    if not sender.add(channel.url):
        return Outcome.fail("Apprise does not accept the channel's url")
    with apprise.LogCapture(level=logging.WARNING) as logs:
        ok = sender.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
        captured = logs.getvalue().strip().splitlines()
    if ok:
        return Outcome.ok()
    return Outcome.retry(" / ".join(captured[-3:]) or "Apprise reported a failure")


async def send_apprise(channel: AppriseChannel, title: str, body: str) -> Outcome:
    try:
        return await asyncio.to_thread(_apprise_notify, channel, title, body)
    except Exception as exc:  # a plugin's own error: recorded, retried
        return Outcome.retry(f"{type(exc).__name__}: {exc}")
