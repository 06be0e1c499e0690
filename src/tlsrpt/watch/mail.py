"""Alert e-mails (pure): a `multipart/alternative` message with a plain-text
and an HTML part (RFC 2046 §5.1.4), marked `Auto-Submitted: auto-generated`
(RFC 3834 §5) so that vacation responders stay quiet.

The Message-ID is derived from the notifications' idempotency keys: a
message sent again after a lost acknowledgement carries the same
Message-ID (RFC 5322 §3.6.4), which mail systems use to drop duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from tlsrpt import __version__
from tlsrpt.watch.render import Rendered, render_alert, render_digest


def _message(
    rendered: Rendered, sender: str, recipient: str, keys: Sequence[str], now: dt.datetime
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = rendered.subject  # one line, no controls (render.one_line)
    msg["Date"] = format_datetime(now.astimezone(dt.UTC))
    token = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:40]
    msg["Message-ID"] = f"<{token}@{sender.rsplit('@', 1)[1]}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Mailer"] = f"tlsrpt {__version__}"
    if len(keys) == 1:
        msg["X-Tlsrpt-Idempotency-Key"] = keys[0]
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


def alert_message(
    payload: Mapping[str, Any],
    *,
    sender: str,
    recipient: str,
    key: str,
    public_url: str | None,
    now: dt.datetime,
) -> EmailMessage:
    """One alert notification as an e-mail."""
    return _message(render_alert(payload, public_url), sender, recipient, [key], now)


def digest_message(
    payloads: Sequence[Mapping[str, Any]],
    *,
    day: dt.date,
    sender: str,
    recipient: str,
    keys: Sequence[str],
    public_url: str | None,
    now: dt.datetime,
) -> EmailMessage:
    """A day's notifications for one recipient, as one e-mail."""
    rendered = render_digest(payloads, day.isoformat(), public_url)
    return _message(rendered, sender, recipient, keys, now)
