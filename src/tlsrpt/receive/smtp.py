"""The SMTP report receiver for `rua=mailto:` (RFC 8460 §5.3), on aiosmtpd.

Never a relay: RCPT is accepted only for configured addresses or domains
(550 otherwise). The message size is capped by aiosmtpd (552). Each message
is stored whole through the ingest pipeline with its DKIM verdict
(RFC 8460 §3; docs/conformance.md#dkim-required): without an acceptable signature it is quarantined
(kept, not counted), or with `accept_unsigned` stored and flagged (`accepted_unsigned`
in its metadata: by whom, when, how). A DNS failure while
verifying answers 450 so the sender retries; so does an unavailable store
(451). 250 is sent only after the message is committed.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.receive.dkim_verify import DkimVerdict, hold_reason, mail_verdict, verdict_meta
from tlsrpt.receive.settings import DkimSettings, SmtpSettings
from tlsrpt.store.engine import Store
from tlsrpt.store.url import StoreError

log = logging.getLogger("tlsrpt.smtp")


class Recipients:
    """Accepted recipients: full addresses, or `@domain` / `domain` for a
    whole domain; compared case-insensitively."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.addresses: set[str] = set()
        self.domains: set[str] = set()
        for entry in entries:
            e = entry.strip().lower()
            if e.startswith("@"):
                self.domains.add(e[1:])
            elif "@" in e:
                self.addresses.add(e)
            elif e:
                self.domains.add(e)
        if not self.addresses and not self.domains:
            raise ValueError("the SMTP receiver needs at least one recipient address or domain")

    def __contains__(self, address: str) -> bool:
        a = address.strip().strip("<>").lower()
        return a in self.addresses or ("@" in a and a.rsplit("@", 1)[1] in self.domains)


class ReportHandler:
    """aiosmtpd handler storing each message through the ingest pipeline."""

    def __init__(
        self,
        store: Store,
        recipients: Recipients,
        dnsfunc: Callable[..., bytes | None],
        *,
        accept_unsigned: bool = False,
        require_tlsrpt_service: bool = False,
    ) -> None:
        self.store = store
        self.recipients = recipients
        self.dnsfunc = dnsfunc
        self.accept_unsigned = accept_unsigned
        self.require_tlsrpt_service = require_tlsrpt_service

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address not in self.recipients:
            return f"550 5.1.1 <{address}>: recipient not accepted here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    def _verdict(self, data: bytes) -> DkimVerdict:
        return mail_verdict(data, self.dnsfunc, require_tlsrpt_service=self.require_tlsrpt_service)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        verdict = await asyncio.to_thread(self._verdict, data)
        if verdict.result == "temperror":
            log.warning("DKIM lookup failed, asking to retry: %s", verdict.reason)
            return "450 4.4.3 DKIM key lookup failed; try again later"
        # RFC 8460 §3; docs/conformance.md#dkim-required
        hold = hold_reason(verdict, self.accept_unsigned)
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        source = SourceInfo(
            kind="smtp",
            detail=f"{peer} from <{envelope.mail_from}> to <{', '.join(envelope.rcpt_tos)}>",
            content_type="message/rfc822",
            meta={
                **verdict_meta(verdict, self.accept_unsigned, "smtp_accept_unsigned setting"),
                "helo": session.host_name,
            },
        )
        try:
            result = await asyncio.to_thread(ingest, self.store, data, source, hold=hold)
        except (StoreError, sa.exc.DBAPIError) as exc:
            log.error("store unavailable: %s", exc)
            return "451 4.3.0 report store unavailable; try again later"
        log.info("mail from %s: %s (raw input %d)", source.detail, result.outcome, result.raw_id)
        return f"250 2.0.0 {result.outcome} as raw input {result.raw_id}"


def smtp_kwargs(max_message_bytes: int) -> dict[str, Any]:
    """Options for aiosmtpd's `SMTP`: the size limit (552 above it) and raw bytes."""
    return {"data_size_limit": max_message_bytes, "decode_data": False, "enable_SMTPUTF8": True}


def controller(
    store: Store,
    smtp: SmtpSettings,
    dkim: DkimSettings,
    dnsfunc: Callable[..., bytes | None],
    tls: ssl.SSLContext | None = None,
) -> Controller:
    """The receiver as `smtp` and `dkim` configure it, on aiosmtpd's
    listening thread (not started); STARTTLS offered with `tls`."""
    if smtp.port is None:
        raise ValueError("the SMTP receiver is off: smtp_port is not set")
    handler = ReportHandler(
        store,
        Recipients(smtp.recipients),
        dnsfunc,
        accept_unsigned=dkim.accept_unsigned,
        require_tlsrpt_service=dkim.require_tlsrpt_service,
    )
    return Controller(
        handler,
        hostname=smtp.host,
        port=smtp.port,
        tls_context=tls,
        **smtp_kwargs(smtp.max_message_bytes),
    )
