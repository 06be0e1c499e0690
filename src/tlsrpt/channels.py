"""Notification channels: the `[[notify]]` tables of the settings, parsed and
validated (pure: no file, no network).

    [[notify]]
    type = "webhook"                  # or "email", "apprise"
    name = "ops"                      # optional; default "<type>-<n>" (n: table number)
    domains = ["example.com"]         # optional: only alerts of these domains ...
    owners = ["customer@example.net"] # ... or of domains these users own

A channel without `domains` and `owners` gets every alert; with either, it
gets the alerts of a listed domain or of a domain a listed user owns. The
`name` is part of each notification's idempotency key: keep it when
editing a channel (default names follow the order of the tables).

Errors name the table by its number (1 for the first) and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from tlsrpt.domains import normalize_domain

CHANNEL_TYPES = ("webhook", "email", "apprise")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# An addr-spec as found in practice; no spaces, no angle brackets, no CR/LF.
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_COMMON = ("type", "name", "domains", "owners")
_KEYS = {
    "webhook": {"url", "secret", "timeout_s"},
    "email": {"to", "from", "smtp_url", "starttls", "ca_file", "digest", "timeout_s"},
    "apprise": {"url"},
}
DEFAULT_WEBHOOK_TIMEOUT_S = 10.0
DEFAULT_SMTP_TIMEOUT_S = 30.0


class ChannelError(ValueError):
    """A `[[notify]]` table is invalid; the message names the table and key."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Which alerts a channel gets: all when both are empty."""

    domains: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()

    @property
    def limited(self) -> bool:
        return bool(self.domains or self.owners)

    def matches(self, domain: str | None, owners: Sequence[str] = ()) -> bool:
        """Whether an alert of `domain`, owned by `owners`, goes to this channel."""
        if not self.limited:
            return True
        if domain is not None and normalize_domain(domain) in self.domains:
            return True
        return any(owner.lower() in self.owners for owner in owners)


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    name: str
    url: str
    secret: str
    scope: Scope = Scope()
    timeout_s: float = DEFAULT_WEBHOOK_TIMEOUT_S
    type: str = "webhook"


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """A submission server: `smtp://` with STARTTLS (port 587 by default) or
    `smtps://` with implicit TLS (port 465, RFC 8314 §3)."""

    implicit_tls: bool
    host: str
    port: int
    user: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never the password
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.user}@" if self.user else ""
        return f"SmtpServer({scheme}://{user}{self.host}:{self.port})"


@dataclass(frozen=True, slots=True)
class EmailChannel:
    name: str
    to: tuple[str, ...]
    sender: str
    server: SmtpServer
    scope: Scope = Scope()
    starttls: bool = True
    ca_file: str | None = None
    digest: bool = False
    timeout_s: float = DEFAULT_SMTP_TIMEOUT_S
    type: str = "email"


@dataclass(frozen=True, slots=True)
class AppriseChannel:
    name: str
    url: str
    scope: Scope = Scope()
    type: str = "apprise"

    def __repr__(self) -> str:  # Apprise URLs carry tokens
        return f"AppriseChannel(name={self.name!r}, scheme={self.url.split(':', 1)[0]!r})"


Channel = WebhookChannel | EmailChannel | AppriseChannel


class _Table:
    """One `[[notify]]` table being read, for errors that name it."""

    def __init__(self, index: int, table: Mapping[str, Any]) -> None:
        self.index, self.table = index, table

    def error(self, key: str | None, reason: str) -> ChannelError:
        where = f"[[notify]] #{self.index}"
        name = self.table.get("name")
        if isinstance(name, str):
            where += f" ({name!r})"
        return ChannelError(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self.table.get(key)
        if value is None:
            if required:
                raise self.error(key, "missing")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, not {value!r}")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise self.error(key, "must not contain control characters")
        return value.strip()

    def words(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(key, f"must be a list of non-empty strings, not {value!r}")
        return tuple(v.strip() for v in value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {value!r}")
        return value

    def seconds(self, key: str, default: float) -> float:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 300:
            raise self.error(key, f"must be a number of seconds in (0, 300], not {value!r}")
        return float(value)

    def addresses(self, key: str) -> tuple[str, ...]:
        items = self.words(key)
        for item in items:
            if not _ADDRESS.match(item):
                raise self.error(key, f"{item!r} is not an e-mail address")
        return items


def parse_channels(tables: Sequence[Mapping[str, Any]]) -> tuple[Channel, ...]:
    """The channels of the `[[notify]]` tables, in order; `ChannelError`
    naming the table (1-based) and key for the first problem found."""
    if not isinstance(tables, Sequence) or isinstance(tables, str | bytes):
        raise ChannelError("notify: must be a list of tables ([[notify]])")
    channels: list[Channel] = []
    names: set[str] = set()
    for index, table in enumerate(tables, start=1):
        if not isinstance(table, Mapping):
            raise ChannelError(f"[[notify]] #{index}: must be a table, not {table!r}")
        channel = _parse_one(_Table(index, table))
        if channel.name in names:
            raise _Table(index, table).error("name", f"{channel.name!r} is used by another table")
        names.add(channel.name)
        channels.append(channel)
    return tuple(channels)


def _parse_one(t: _Table) -> Channel:
    kind = t.table.get("type")
    if kind not in CHANNEL_TYPES:
        raise t.error("type", f"must be one of {', '.join(CHANNEL_TYPES)}, not {kind!r}")
    unknown = sorted(set(t.table) - set(_COMMON) - _KEYS[kind])
    if unknown:
        raise t.error(unknown[0], f"unknown key for a {kind} channel")
    name = t.text("name", required=False) or f"{kind}-{t.index}"
    if not _NAME.match(name):
        raise t.error("name", "letters, digits, '.', '_' and '-' only, at most 64")
    domains = tuple(normalize_domain(d) for d in t.words("domains"))
    scope = Scope(domains, tuple(o.lower() for o in t.addresses("owners")))
    if kind == "webhook":
        return WebhookChannel(
            name, _http_url(t, "url"), t.text("secret") or "", scope, t.seconds("timeout_s", 10)
        )
    if kind == "email":
        return _email(t, name, scope)
    return AppriseChannel(name, _apprise_url(t), scope)


def _http_url(t: _Table, key: str) -> str:
    url = t.text(key) or ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a bad port
    except ValueError as exc:
        raise t.error(key, f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise t.error(key, f"must be an http:// or https:// URL, not {url!r}")
    return url


def _email(t: _Table, name: str, scope: Scope) -> EmailChannel:
    to = t.addresses("to")
    if not to:
        raise t.error("to", "needs at least one address")
    sender = t.text("from") or ""
    if not _ADDRESS.match(sender):
        raise t.error("from", f"{sender!r} is not an e-mail address")
    server = parse_smtp_url(t.text("smtp_url") or "", t)
    starttls = t.flag("starttls", True)
    if not starttls and not server.implicit_tls and server.user is not None:
        raise t.error("starttls", "false would send the SMTP password unencrypted")
    return EmailChannel(
        name=name,
        to=to,
        sender=sender,
        server=server,
        scope=scope,
        starttls=starttls,
        ca_file=t.text("ca_file", required=False),
        digest=t.flag("digest", False),
        timeout_s=t.seconds("timeout_s", DEFAULT_SMTP_TIMEOUT_S),
    )


def parse_smtp_url(url: str, t: _Table | None = None) -> SmtpServer:
    """`smtp://[user:password@]host[:port]` (STARTTLS, port 587) or
    `smtps://...` (implicit TLS, port 465); user and password percent-encoded."""

    def fail(reason: str) -> ChannelError:
        return t.error("smtp_url", reason) if t else ChannelError(f"smtp_url: {reason}")

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise fail(f"not a URL: {exc}") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise fail("must be smtp://[user:password@]host[:port] or smtps://...")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise fail("takes no path, query or fragment")
    implicit = parts.scheme == "smtps"
    return SmtpServer(
        implicit_tls=implicit,
        host=parts.hostname,
        port=port or (465 if implicit else 587),
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def _apprise_url(t: _Table) -> str:
    url = t.text("url") or ""
    import apprise  # the plugins are loaded on first use: only for apprise channels

    if apprise.Apprise.instantiate(url) is None:
        scheme = url.split("://", 1)[0] if "://" in url else url[:20]
        raise t.error("url", f"not a URL Apprise can use (scheme {scheme!r})")
    return url


def channel_owners_needed(channels: Sequence[Channel]) -> bool:
    """Whether some channel is limited by owner (the owners must be looked up)."""
    return any(c.scope.owners for c in channels)
