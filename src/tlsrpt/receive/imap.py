"""The IMAP poller for `rua=mailto:` reports left in a mailbox (imapclient).

One folder of one account, over IMAPS or STARTTLS. Each message gets the
SMTP receiver's DKIM policy (`hold_reason`, RFC 8460 §3; docs/conformance.md#dkim-required) and goes
through the one ingest pipeline; then, by `mode`:

- "move": the message is moved (RFC 6851 MOVE, else COPY + EXPUNGE) to the
  archive folder when stored or a duplicate, to the invalid folder when
  quarantined. It is moved only after its ingest committed: a crash or a
  dropped connection in between re-reads it, and the same bytes are a
  duplicate (or quarantined again) — never counted twice.
- "read-only": nothing on the server changes; the highest ingested UID is
  kept per mailbox in `imap_watermarks`, under the folder's UIDVALIDITY
  (RFC 9051 §2.3.1.1: a new UIDVALIDITY means UIDs were reassigned, so the
  folder is read again from the start and de-duplication by bytes skips
  what was stored). The watermark is written after each ingest commits.

A message whose DKIM key lookup failed for a reason that may pass stays in
place (and below no watermark) and is tried again on the next round, for
`dkim_retry_s` (a day by default, about what a sending MTA retries a 4xx);
after that it is quarantined with the reason — kept, not counted, and
releasable with `tlsrpt quarantine retry` — so that one message whose
signer's DNS stays broken does not hold back the read-only watermark.
Between rounds the poller waits in IDLE (RFC 2177) when the server offers
it, else sleeps `poll_interval_s`. Connection or database failures close
the session and retry with backoff.

Scale-out: on PostgreSQL the poller takes a session-level advisory lock
per mailbox on a connection of its own, and polls only while holding it,
so one instance among many polls a mailbox; another takes over when that
connection ends. On SQLite a single `tlsrpt serve` is expected.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import imapclient
import imapclient.exceptions
import sqlalchemy as sa

from tlsrpt.ingest.model import Outcome, SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.receive.dkim_verify import hold_reason, mail_verdict, verdict_meta
from tlsrpt.receive.settings import DkimSettings, ImapSettings
from tlsrpt.report import DEFAULT_LIMITS
from tlsrpt.store import imap_state
from tlsrpt.store.engine import Store
from tlsrpt.store.url import StoreError

log = logging.getLogger("tlsrpt.imap")

Mode = Literal["move", "read-only"]
TlsMode = Literal["imaps", "starttls"]
MODES: tuple[Mode, ...] = ("move", "read-only")
TLS_MODES: tuple[TlsMode, ...] = ("imaps", "starttls")
# RFC 2177 §3: re-issue IDLE at least every 29 minutes.
MAX_IDLE_S = 25 * 60
MAX_BACKOFF_S = 300.0
LOCK_CHECK_S = 5.0
# Untagged responses during IDLE that mean new mail (RFC 2177).
_CHANGES = (b"EXISTS", b"RECENT")
# Errors after which the session is dropped and opened again.
RETRYABLE = (
    OSError,
    ssl.SSLError,
    imapclient.exceptions.IMAPClientError,
    imapclient.exceptions.IMAPClientAbortError,
    StoreError,
    sa.exc.SQLAlchemyError,
)


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    user: str
    password: str
    port: int | None = None  # 993 for imaps, 143 for starttls
    folder: str = "INBOX"
    mode: Mode = "move"
    archive_folder: str = "Archive"
    invalid_folder: str = "Invalid"
    tls: TlsMode = "imaps"
    ca_file: str | None = None  # else the system's trust store
    poll_interval_s: float = 60.0
    timeout_s: float = 60.0
    dkim_retry_s: float = 86400.0
    accept_unsigned: bool = False
    require_tlsrpt_service: bool = False
    # Larger messages are not fetched: moved to the invalid folder (or
    # passed over in read-only mode) with a warning, as SMTP answers 552.
    max_message_bytes: int = DEFAULT_LIMITS.max_message_bytes

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"IMAP mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.tls not in TLS_MODES:
            raise ValueError(f"IMAP TLS mode {self.tls!r} is not one of {', '.join(TLS_MODES)}")
        if self.poll_interval_s <= 0:
            raise ValueError("the IMAP poll interval must be positive")
        if self.dkim_retry_s < 0:
            raise ValueError("the IMAP DKIM retry time cannot be negative")
        if self.mode == "move" and self.folder in (self.archive_folder, self.invalid_folder):
            raise ValueError(f"IMAP folder {self.folder!r} cannot be its own archive or invalid")

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls == "imaps" else 143)

    @property
    def mailbox(self) -> str:
        """What identifies the mailbox: the watermark and lock key."""
        return f"{self.user}@{self.host}:{self.effective_port}/{self.folder}"


def config_from(imap: ImapSettings, dkim: DkimSettings, max_message_bytes: int) -> ImapConfig:
    """The poller's configuration from its settings section, the DKIM
    policy and the SMTP receiver's size limit; the password read from
    `password_file` when not given. ValueError says what is wrong."""
    password = imap.password
    if password is None and imap.password_file is not None:
        try:
            password = Path(imap.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(
                f"imap_password_file {imap.password_file}: {exc.strerror or exc}"
            ) from exc
    if imap.ca_file is not None and not Path(imap.ca_file).is_file():
        raise ValueError(f"imap_ca_file {imap.ca_file}: no such file")
    return ImapConfig(
        host=imap.host or "",
        port=imap.port,
        user=imap.user or "",
        password=password or "",
        folder=imap.folder,
        mode=imap.mode,  # type: ignore[arg-type]  # checked by ImapConfig
        archive_folder=imap.archive_folder,
        invalid_folder=imap.invalid_folder,
        tls=imap.tls,  # type: ignore[arg-type]
        ca_file=imap.ca_file,
        poll_interval_s=imap.poll_interval_s,
        dkim_retry_s=imap.dkim_retry_s,
        accept_unsigned=dkim.accept_unsigned,
        require_tlsrpt_service=dkim.require_tlsrpt_service,
        max_message_bytes=max_message_bytes,
    )


def lock_key(mailbox: str) -> int:
    """A signed 64-bit PostgreSQL advisory lock key for a mailbox."""
    digest = hashlib.sha256(b"tlsrpt-imap:" + mailbox.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def new_uids(uids: list[int], last_uid: int) -> list[int]:
    """The UIDs above the watermark, in order. `UID SEARCH n:*` always
    returns the highest UID even below n (RFC 9051 §6.4.8), hence the filter."""
    return sorted(u for u in uids if u > last_uid)


def destination(outcome: Outcome, config: ImapConfig) -> str:
    return config.invalid_folder if outcome == "quarantined" else config.archive_folder


class ImapPoller:
    """Polls one mailbox until `stop()`; run it in a thread of its own."""

    def __init__(
        self, store: Store, config: ImapConfig, dnsfunc: Callable[..., bytes | None]
    ) -> None:
        self.store = store
        self.config = config
        self.dnsfunc = dnsfunc
        self.counts: Counter[str] = Counter()  # outcomes ingested by this poller
        self.polling = threading.Event()  # set while this instance holds the mailbox
        self._stop = threading.Event()
        self._lock_conn: sa.Connection | None = None
        self._worked = False  # the current session completed a round
        # (UIDVALIDITY, UID) -> monotonic time of its first DKIM temperror
        self._dkim_failing: dict[tuple[int, int], float] = {}

    # -- lifecycle -------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Hold the mailbox lock, poll, and start over after any failure."""
        backoff = 1.0
        while not self._stop.is_set():
            self._worked = False
            try:
                with self._mailbox_lock() as held:
                    if not held:
                        self._stop.wait(min(self.config.poll_interval_s, 5.0))
                        continue
                    self.polling.set()
                    try:
                        self._session()
                    finally:
                        self.polling.clear()
            except RETRYABLE as exc:
                log.warning("IMAP %s: %s; retrying in %.0f s", self.config.mailbox, exc, backoff)
            except Exception:  # a bug must not end the poller: log it, start over
                log.exception(
                    "IMAP %s: unexpected error; retrying in %.0f s", self.config.mailbox, backoff
                )
            else:
                continue
            if self._worked:  # the session was up: this is a new failure
                backoff = 1.0
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    @contextmanager
    def _mailbox_lock(self) -> Iterator[bool]:
        """PostgreSQL: a session-level advisory lock on a connection of this
        poller's own, held as long as the block runs. SQLite: always held
        (one instance only)."""
        if self.store.is_sqlite:
            yield True
            return
        with imap_state.advisory_lock(self.store, lock_key(self.config.mailbox)) as conn:
            self._lock_conn = conn
            try:
                yield conn is not None
            finally:
                self._lock_conn = None

    def _lock_alive(self) -> None:
        """Raise if the lock's connection died: another instance may poll now."""
        if self._lock_conn is not None:
            imap_state.ping(self._lock_conn)

    # -- one IMAP session ------------------------------------------------

    def _connect(self) -> imapclient.IMAPClient:
        c = self.config
        context = ssl.create_default_context(cafile=c.ca_file)
        client = imapclient.IMAPClient(
            c.host,
            port=c.effective_port,
            ssl=c.tls == "imaps",
            ssl_context=context,
            timeout=c.timeout_s,
        )
        try:
            if c.tls == "starttls":
                client.starttls(context)
            client.login(c.user, c.password)
        except BaseException:
            _close(client)
            raise
        return client

    def _session(self) -> None:
        client = self._connect()
        try:
            if self.config.mode == "move":
                for folder in (self.config.archive_folder, self.config.invalid_folder):
                    if not client.folder_exists(folder):
                        client.create_folder(folder)
            idle = b"IDLE" in client.capabilities()
            log.info(
                "IMAP %s: polling (%s, %s)",
                self.config.mailbox,
                self.config.mode,
                "IDLE" if idle else f"every {self.config.poll_interval_s:g} s",
            )
            while not self._stop.is_set():
                self._lock_alive()
                selected = client.select_folder(
                    self.config.folder, readonly=self.config.mode != "move"
                )
                self._round(client, int(selected[b"UIDVALIDITY"]))
                self._worked = True
                self._wait(client, idle)
        finally:
            _close(client)

    def _wait(self, client: imapclient.IMAPClient, idle: bool) -> None:
        """Until the folder changes (IDLE), the poll interval passes, or stop.
        Checks in one-second steps so stop() is prompt, and that the mailbox
        lock is still held every LOCK_CHECK_S."""
        start = time.monotonic()
        deadline = start + min(self.config.poll_interval_s, MAX_IDLE_S)
        next_check = start + LOCK_CHECK_S
        if idle:
            client.idle()
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                if time.monotonic() >= next_check:
                    self._lock_alive()
                    next_check += LOCK_CHECK_S
                if not idle:
                    self._stop.wait(min(1.0, max(0.0, deadline - time.monotonic())))
                elif any(len(r) > 1 and r[1] in _CHANGES for r in client.idle_check(timeout=1)):
                    break
        finally:
            if idle:
                client.idle_done()

    def _round(self, client: imapclient.IMAPClient, uidvalidity: int) -> None:
        if self.config.mode == "move":
            for uid in sorted(client.search(["UNDELETED"])):
                if self._stop.is_set():
                    return
                self._lock_alive()  # the window for a second poller: one message
                outcome = self._ingest(client, uid, uidvalidity)
                if outcome is not None:
                    _move(client, uid, destination(outcome, self.config))
            return
        last = self._watermark(uidvalidity)
        for uid in new_uids(client.search(["UID", f"{last + 1}:*"]), last):
            if self._stop.is_set():
                return
            self._lock_alive()
            if self._ingest(client, uid, uidvalidity) is None:
                return  # retry from this UID next round: the watermark stays below it
            self._set_watermark(uidvalidity, uid)

    def _ingest(self, client: imapclient.IMAPClient, uid: int, uidvalidity: int) -> Outcome | None:
        """Ingest one message; None when it must be tried again later."""
        size = client.fetch([uid], ["RFC822.SIZE"]).get(uid, {}).get(b"RFC822.SIZE")
        if size is not None and size > self.config.max_message_bytes:
            log.warning(
                "IMAP %s: UID %d is %d bytes, over the limit of %d: not read",
                self.config.mailbox,
                uid,
                size,
                self.config.max_message_bytes,
            )
            self.counts["too-large"] += 1
            return "quarantined"
        fetched = client.fetch([uid], ["BODY.PEEK[]"]).get(uid)
        if not fetched or b"BODY[]" not in fetched:
            log.warning("IMAP %s: UID %d vanished before it was read", self.config.mailbox, uid)
            return None
        data = bytes(fetched[b"BODY[]"])
        verdict = mail_verdict(
            data, self.dnsfunc, require_tlsrpt_service=self.config.require_tlsrpt_service
        )
        hold = hold_reason(verdict, self.config.accept_unsigned)
        if verdict.result == "temperror":
            hold = self._dkim_temperror(uidvalidity, uid, verdict.reason)
            if hold is None:
                return None
        else:  # a verdict at last: its retry clock, if any, is done with
            self._dkim_failing.pop((uidvalidity, uid), None)
        source = SourceInfo(
            kind="imap",
            detail=f"{self.config.mailbox} UID {uid}",
            content_type="message/rfc822",
            meta=verdict_meta(verdict, self.config.accept_unsigned, "smtp_accept_unsigned setting"),
        )
        result = ingest(self.store, data, source, hold=hold)
        self.counts[result.outcome] += 1
        log.info(
            "IMAP %s UID %d: %s (raw input %d)",
            self.config.mailbox,
            uid,
            result.outcome,
            result.raw_id,
        )
        return result.outcome

    def _dkim_temperror(self, uidvalidity: int, uid: int, reason: str | None) -> str | None:
        """None: try the message again later; else the quarantine reason,
        once its key lookup has failed for `dkim_retry_s`."""
        key = (uidvalidity, uid)
        now = time.monotonic()
        first = self._dkim_failing.setdefault(key, now)
        if now - first < self.config.dkim_retry_s:
            log.warning(
                "IMAP %s: UID %d: DKIM lookup failed, trying later: %s",
                self.config.mailbox,
                uid,
                reason,
            )
            return None
        del self._dkim_failing[key]
        log.warning(
            "IMAP %s: UID %d: DKIM lookup failing for %.0f s, quarantined: %s",
            self.config.mailbox,
            uid,
            now - first,
            reason,
        )
        return f"DKIM key lookup kept failing for {now - first:.0f} s: {reason}"

    # -- read-only watermark ---------------------------------------------

    def _watermark(self, uidvalidity: int) -> int:
        with self.store.read() as conn:
            row = imap_state.watermark(conn, self.config.mailbox)
        if row is None:
            return 0
        if row.uidvalidity != uidvalidity:  # RFC 9051 §2.3.1.1: UIDs were reassigned
            log.warning(
                "IMAP %s: UIDVALIDITY changed (%d -> %d); reading the folder again",
                self.config.mailbox,
                row.uidvalidity,
                uidvalidity,
            )
            return 0
        return int(row.last_uid)

    def _set_watermark(self, uidvalidity: int, uid: int) -> None:
        mark = imap_state.Watermark(uidvalidity, uid)
        with self.store.write() as conn:
            imap_state.set_watermark(conn, self.config.mailbox, mark, _now())


def _move(client: imapclient.IMAPClient, uid: int, folder: str) -> None:
    if client.has_capability("MOVE"):
        client.move([uid], folder)
        return
    client.copy([uid], folder)
    client.delete_messages([uid])
    if client.has_capability("UIDPLUS"):
        client.uid_expunge([uid])
    else:
        client.expunge()


def _close(client: imapclient.IMAPClient) -> None:
    try:
        client.logout()
    except RETRYABLE:
        with contextlib.suppress(OSError):  # the socket is gone either way
            client.shutdown()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def start(poller: ImapPoller) -> threading.Thread:
    thread = threading.Thread(target=poller.run, name="tlsrpt-imap", daemon=True)
    thread.start()
    return thread
