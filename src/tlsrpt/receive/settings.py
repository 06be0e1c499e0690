"""Each receiver's settings section of `tlsrpt serve` (`tlsrpt.settings`).

In a TOML file each is a table, `[receive.http]`, `[receive.smtp]`,
`[receive.imap]`, `[receive.dkim]`, holding the keys named by the fields
below. Every key also has the flat name it had before sections (the
top-level TOML key, the `TLSRPT_<NAME>` variable, the command line):
`FLAT_NAMES` maps each section's fields to them, and the errors below name
a key by its flat name, which the environment uses too.

A section checks its own values (ValueError naming the key); what a
receiver does with them is in its module: `http`, `smtp`, `imap`, and the
DKIM policy every mail receiver applies (`dkim_verify`: SMTP, IMAP, and
the MTA pipe, which takes it from its command line).
"""

from __future__ import annotations

from dataclasses import dataclass

from tlsrpt.report import DEFAULT_LIMITS

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """`[receive.http]`: the HTTP receiver, `POST reports_path` (RFC 8460 §5.4)."""

    reports_path: str = "/v1/reports"
    max_body_bytes: int = DEFAULT_LIMITS.max_input_bytes
    body_timeout_s: int = 60  # the whole body within (408); the listener closes slower ones
    max_inflight_body_bytes: int = 128 * MIB  # bodies held at once, all requests; then 503
    quarantine_budget_inputs: int = 1000  # per client and UTC day; then 429
    quarantine_budget_bytes: int = 100 * MIB
    reports_rate_burst: int = 20_000  # POSTs per client at once (token bucket)
    reports_rate_per_s: int = 50  # then this many a second

    def __post_init__(self) -> None:
        if self.body_timeout_s < 1:
            raise ValueError("body_timeout_s must be at least 1")
        for name in (
            "max_body_bytes",
            "max_inflight_body_bytes",
            "reports_rate_burst",
            "reports_rate_per_s",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_inflight_body_bytes < self.max_body_bytes:
            raise ValueError(
                "max_inflight_body_bytes must be at least max_body_bytes: "
                "else a body of the allowed size could never be received"
            )
        for name in ("quarantine_budget_inputs", "quarantine_budget_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0")
        if not self.reports_path.startswith("/"):
            raise ValueError(f"reports_path {self.reports_path!r} must start with '/'")


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """`[receive.smtp]`: the SMTP receiver for `rua=mailto:` (RFC 8460 §5.3);
    off without `port`. `max_message_bytes` bounds the IMAP poller's
    messages too."""

    port: int | None = None
    host: str = "127.0.0.1"
    recipients: tuple[str, ...] = ()  # addresses, or domains (`@example.org`)
    max_message_bytes: int = DEFAULT_LIMITS.max_message_bytes

    def __post_init__(self) -> None:
        if self.port is not None and not self.recipients:
            raise ValueError("smtp_port needs smtp_recipients: the receiver is never a relay")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"smtp_port {self.port} is out of range 0-65535")


@dataclass(frozen=True, slots=True)
class DkimSettings:
    """`[receive.dkim]`: the DKIM policy of the mail receivers (SMTP and
    IMAP; the MTA pipe takes the same policy from its command line)."""

    # RFC 8460 §3: without an acceptable signature a report is quarantined,
    # unless this is set (it is then stored, and who let it in recorded).
    accept_unsigned: bool = False
    require_tlsrpt_service: bool = False  # keys must carry s=tlsrpt


@dataclass(frozen=True, slots=True)
class ImapSettings:
    """`[receive.imap]`: the IMAP poller of one mailbox; off without `host`.
    Mode, TLS mode, folders and interval are checked by
    `tlsrpt.receive.imap.ImapConfig`, the poller's resolved configuration."""

    host: str | None = None
    port: int | None = None  # 993 (imaps), 143 (starttls)
    user: str | None = None
    password: str | None = None
    password_file: str | None = None
    folder: str = "INBOX"
    mode: str = "move"
    archive_folder: str = "Archive"
    invalid_folder: str = "Invalid"
    tls: str = "imaps"
    ca_file: str | None = None
    poll_interval_s: int = 60
    dkim_retry_s: int = 86400

    def __post_init__(self) -> None:
        if self.host is None:
            return
        if not self.user:
            raise ValueError("imap_host needs imap_user")
        if self.password is None and self.password_file is None:
            raise ValueError("imap_host needs imap_password or imap_password_file")
        if self.port is not None and not 0 < self.port <= 65535:
            raise ValueError(f"imap_port {self.port} is out of range 1-65535")


# [receive.<name>] -> its class, and each field's flat name (as before
# sections: the top-level key and the TLSRPT_<NAME> variable).
SECTIONS: dict[str, type] = {
    "http": HttpSettings,
    "smtp": SmtpSettings,
    "dkim": DkimSettings,
    "imap": ImapSettings,
}
FLAT_NAMES: dict[str, dict[str, str]] = {
    "http": {name: name for name in HttpSettings.__dataclass_fields__},
    "smtp": {name: f"smtp_{name}" for name in SmtpSettings.__dataclass_fields__},
    "dkim": {
        "accept_unsigned": "smtp_accept_unsigned",
        "require_tlsrpt_service": "dkim_require_tlsrpt_service",
    },
    "imap": {name: f"imap_{name}" for name in ImapSettings.__dataclass_fields__},
}
