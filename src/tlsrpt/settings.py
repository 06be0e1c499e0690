"""Settings of `tlsrpt serve`: defaults, a TOML file, `TLSRPT_*` variables.

Each setting may come from, in rising precedence: its default, the TOML
file (`--config`, top-level keys named as below), the environment variable
`TLSRPT_<NAME>` (or `TLSRPT_<NAME>_FILE`, naming a file holding the value,
for secrets such as a database password), and the command line.

Each receiver's settings are a section of their own (`settings.http`,
`.smtp`, `.dkim`, `.imap`: `tlsrpt.receive.settings`). In the TOML file a
section is either the flat keys below or its table, `[receive.http]`,
`[receive.smtp]`, `[receive.dkim]`, `[receive.imap]`, holding the keys
without their prefix (`[receive.smtp] port = 25` is `smtp_port = 25`;
`[receive.http]` keeps the names; `[receive.dkim] accept_unsigned` and
`require_tlsrpt_service` are `smtp_accept_unsigned` and
`dkim_require_tlsrpt_service`), never both for one key. Variables and
command-line options keep the flat names.

| key              | env variable             | default                      |
|------------------|--------------------------|------------------------------|
| database_url     | TLSRPT_DATABASE_URL      | SQLite file in the data dir  |
| host             | TLSRPT_HOST              | 127.0.0.1                    |
| port             | TLSRPT_PORT              | 8080                         |
| certfile/keyfile | TLSRPT_CERTFILE/KEYFILE  | none (plain HTTP)            |
| reports_path     | TLSRPT_REPORTS_PATH      | /v1/reports                  |
| public_url       | TLSRPT_PUBLIC_URL        | none: https://HOST[:PORT][/PATH]; see below |
| max_body_bytes   | TLSRPT_MAX_BODY_BYTES    | 10 MiB (RFC 8460 §5.2)       |
| trusted_proxies  | TLSRPT_TRUSTED_PROXIES   | none (comma-separated list)  |
| body_timeout_s   | TLSRPT_BODY_TIMEOUT_S    | 60: whole body within (408)  |
| header_timeout_s | TLSRPT_HEADER_TIMEOUT_S  | 15: headers within, or closed|
| keepalive_timeout_s | ..._KEEPALIVE_TIMEOUT_S | 5: idle between requests   |
| max_connections  | TLSRPT_MAX_CONNECTIONS   | 1000 (see below)             |
| max_inflight_body_bytes | ..._INFLIGHT_BODY_BYTES | 128 MiB, then 503     |
| quarantine_budget_inputs | ..._BUDGET_INPUTS | 1000 per client per UTC day |
| quarantine_budget_bytes | ..._BUDGET_BYTES  | 100 MiB per client per day   |
| reports_rate_burst | ..._REPORTS_RATE_BURST | 20000 POSTs per client at once |
| reports_rate_per_s | ..._REPORTS_RATE_PER_S | 50 more per client per second |
| smtp_port        | TLSRPT_SMTP_PORT         | none: no SMTP receiver       |
| smtp_host        | TLSRPT_SMTP_HOST         | 127.0.0.1                    |
| smtp_recipients  | TLSRPT_SMTP_RECIPIENTS   | none (addresses, @domains)   |
| smtp_max_message_bytes | ..._MAX_MESSAGE_BYTES | 25 MiB                    |
| smtp_accept_unsigned | ..._ACCEPT_UNSIGNED  | false: quarantine (RFC 8460 §3)|
| dkim_require_tlsrpt_service | ...          | false (RFC 8460 §3)          |
| dns_nameservers, dns_port | TLSRPT_DNS_*    | system resolver, 53          |
| reverse_dns      | TLSRPT_REVERSE_DNS       | true: PTR names of sending IPs|
| watch_interval   | TLSRPT_WATCH_INTERVAL    | 6h; "0": serve does not watch|
| watch_jitter     | TLSRPT_WATCH_JITTER      | 10m: random delay per check  |
| watch_keepalive  | TLSRPT_WATCH_KEEPALIVE   | 7d: repeat an unchanged state|
| watch_lease      | TLSRPT_WATCH_LEASE       | 10m: a claimed check's lease |
| watch_intervals  | TLSRPT_WATCH_INTERVALS   | none (domain = duration)     |
| watch_ca_file, watch_allow_private_addresses | TLSRPT_WATCH_* | none, false |
| watch_smtp_port, watch_https_port | TLSRPT_WATCH_* | 25, 443           |
| watch_concurrency | TLSRPT_WATCH_CONCURRENCY | 20 checks at a time         |
| imap_host        | TLSRPT_IMAP_HOST         | none: no IMAP poller         |
| imap_port        | TLSRPT_IMAP_PORT         | 993 (imaps), 143 (starttls)  |
| imap_user, imap_password(_file) | TLSRPT_IMAP_* | required with imap_host |
| imap_folder      | TLSRPT_IMAP_FOLDER       | INBOX                        |
| imap_mode        | TLSRPT_IMAP_MODE         | move (or read-only)          |
| imap_archive_folder, imap_invalid_folder | ... | Archive, Invalid          |
| imap_tls         | TLSRPT_IMAP_TLS          | imaps (or starttls)          |
| imap_ca_file     | TLSRPT_IMAP_CA_FILE      | system trust store           |
| imap_poll_interval_s | ..._POLL_INTERVAL_S  | 60 (without IDLE; IDLE wakes)|
| imap_dkim_retry_s | ..._DKIM_RETRY_S        | 86400: then quarantined      |
| [[notify]]       | (TOML only)              | none: alert notification channels |
| metrics_token    | TLSRPT_METRICS_TOKEN(_FILE) | none: /metrics for loopback clients only |
| metrics_max_domains | ..._METRICS_MAX_DOMAINS | 1000: more domains are labelled "other" |
| retention_days   | TLSRPT_RETENTION_DAYS    | none: reports kept forever   |
| quarantine_retention_days | ...              | retention_days               |
| watch_retention_days | ..._WATCH_RETENTION_DAYS | 365 (0: kept forever)     |
| alert_retention_days | ..._ALERT_RETENTION_DAYS | 365 (0: kept forever)     |
| outbox_retention_days | ..._OUTBOX_RETENTION_DAYS | 30 (0: kept forever)    |

`[[notify]]` tables (webhook, email, apprise; tlsrpt.channels) are
where alert notifications go; `public_url` is the dashboard's address as
users reach it, for the links in them. `GET /metrics` (Prometheus) needs
`Authorization: Bearer <metrics_token>` when the token is set; without it,
it answers only clients on a loopback address that came without a
`X-Forwarded-For` or `Forwarded` header (not through a proxy), and 403
to anyone else.

Connections (HTTP): a connection that has not sent a request's complete
headers within header_timeout_s of its opening (or of the end of the
previous response) is closed. Beyond max_connections, an idle connection
(no request in progress, the oldest first) is closed to make room; when
none is idle the new connection is answered 503 and closed at once, never
queued. max_connections is lowered to fit the process's descriptor limit
(RLIMIT_NOFILE, whose soft limit is first raised towards the hard one).
max_inflight_body_bytes bounds the request bodies held in memory at once,
across all requests: a body that would pass it is answered 503 with
Retry-After. The quarantine budget bounds what one client address (an
IPv6 client by its /64; behind trusted_proxies, the forwarded address)
may put into quarantine over HTTP per UTC day; past it, a body that would
be quarantined is refused with 429 and not stored. Valid reports never
count against it.
The receiver's rate limit: each client address (as above) may POST
reports_rate_burst reports at once, then reports_rate_per_s a second
(a token bucket); beyond, 429 with Retry-After. On PostgreSQL the limit
is counted in the database, shared by all instances serving it; on
SQLite per process. The defaults let a large sender deliver one report
per domain for 20,000 domains of one endpoint in one burst (they send
after midnight UTC, from few addresses) and 180,000 an hour after it;
what hostile input can store is bounded by the quarantine budget, so
the rate limit only bounds the work of a flood. The login allows 10
attempts, then one per 6 seconds, per address.
Retention (tlsrpt.retention, `tlsrpt prune`): with retention_days set,
serve removes once a day the reports of older UTC days and the raw inputs
received before then (the daily roll-ups stay); quarantined inputs after
quarantine_retention_days, watch snapshots (never a domain's latest),
resolved alerts and delivered notifications after theirs.
The `[alerts]` table (thresholds, rules, per-domain overrides) is read by
`tlsrpt.analysis.alert_settings.parse_alert_settings`; TOML only.

The IMAP poller applies the SMTP receiver's DKIM policy and size limit
(smtp_accept_unsigned, dkim_require_tlsrpt_service, smtp_max_message_bytes).
The SMTP receiver offers STARTTLS with certfile/keyfile when they are set.
Booleans in the environment: 1/true/yes or 0/false/no.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tlsrpt.analysis.alert_settings import AlertSettings, AlertSettingsError, parse_alert_settings
from tlsrpt.channels import Channel, ChannelError, parse_channels
from tlsrpt.mtasts.publish import Publish, public_url_error
from tlsrpt.receive.settings import (
    FLAT_NAMES,
    SECTIONS,
    DkimSettings,
    HttpSettings,
    ImapSettings,
    SmtpSettings,
)

ENV_PREFIX = "TLSRPT_"


class SettingsError(Exception):
    """A setting is missing, unknown or malformed; the message says which."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    certfile: str | None = None
    keyfile: str | None = None
    public_url: str | None = None  # where senders and users reach this server (https)
    trusted_proxies: tuple[str, ...] = ()
    header_timeout_s: int = 15
    keepalive_timeout_s: int = 5
    max_connections: int = 1000
    # each receiver's section ([receive.*], tlsrpt.receive.settings)
    http: HttpSettings = dataclasses.field(default_factory=HttpSettings)
    smtp: SmtpSettings = dataclasses.field(default_factory=SmtpSettings)
    dkim: DkimSettings = dataclasses.field(default_factory=DkimSettings)
    imap: ImapSettings = dataclasses.field(default_factory=ImapSettings)
    dns_nameservers: tuple[str, ...] = ()  # DKIM key lookups and the watch's checker
    dns_port: int = 53
    reverse_dns: bool = True  # the dashboard shows sending IPs' PTR names (dns_nameservers)
    watch_interval: str = "6h"
    watch_jitter: str = "10m"
    watch_keepalive: str = "7d"
    watch_lease: str = "10m"
    watch_intervals: tuple[tuple[str, str], ...] = ()
    watch_ca_file: str | None = None
    watch_allow_private_addresses: bool = False
    watch_smtp_port: int = 25
    watch_https_port: int = 443
    watch_concurrency: int = 20
    alerts: AlertSettings = dataclasses.field(default_factory=AlertSettings)
    notify: tuple[Channel, ...] = ()
    metrics_token: str | None = None
    metrics_max_domains: int = 1000
    retention_days: int | None = None
    quarantine_retention_days: int | None = None
    watch_retention_days: int = 365
    alert_retention_days: int = 365
    outbox_retention_days: int = 30

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port {self.port} is out of range 0-65535")
        for name in ("header_timeout_s", "keepalive_timeout_s", "max_connections"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1")
        if self.public_url is not None and public_url_error(self.public_url):
            raise SettingsError(str(public_url_error(self.public_url)))
        if (self.certfile is None) != (self.keyfile is None):
            raise SettingsError("certfile and keyfile go together: give both or neither")
        if self.metrics_max_domains < 1:
            raise SettingsError("metrics_max_domains must be at least 1")
        self._check_watch()
        self._check_retention()

    def _check_retention(self) -> None:
        for name in ("retention_days", "quarantine_retention_days"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SettingsError(f"{name} must be at least 1 (unset: kept forever)")
        for name in ("watch_retention_days", "alert_retention_days", "outbox_retention_days"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be at least 0 (0: kept forever)")

    def _check_watch(self) -> None:
        from tlsrpt.watch.schedule import WatchConfig

        try:
            WatchConfig.from_settings(*self.watch_schedule())
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        for name in ("watch_smtp_port", "watch_https_port"):
            if not 0 < getattr(self, name) <= 65535:
                raise SettingsError(f"{name} {getattr(self, name)} is out of range 1-65535")
        if self.watch_concurrency < 1:
            raise SettingsError("watch_concurrency must be at least 1")

    @property
    def publish(self) -> Publish:
        """What the MTA-STS records to publish read: the public URL and the
        reports path (`tlsrpt.mtasts.publish.expected_records`)."""
        return Publish(self.public_url, self.http.reports_path)

    def watch_schedule(self) -> tuple[str, str, str, str, dict[str, str]]:
        """The arguments of `tlsrpt.watch.schedule.WatchConfig.from_settings`."""
        return (
            self.watch_interval,
            self.watch_jitter,
            self.watch_keepalive,
            self.watch_lease,
            dict(self.watch_intervals),
        )


_BOOLS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
_DURATIONS = {"watch_interval", "watch_jitter", "watch_keepalive", "watch_lease"}
_TABLES = ("alerts",)  # TOML tables with parsers of their own, not in the environment
# Every flat key (top-level TOML key, TLSRPT_<KEY> variable, command-line
# override) -> the section holding it (None: Settings itself) and its field.
_KEYS: dict[str, tuple[str | None, dataclasses.Field[Any]]] = {
    f.name: (None, f)
    for f in dataclasses.fields(Settings)
    if f.name not in _TABLES and f.name not in SECTIONS
}
for _section, _cls in SECTIONS.items():
    for _field in dataclasses.fields(_cls):
        _KEYS[FLAT_NAMES[_section][_field.name]] = (_section, _field)


def _convert(name: str, value: Any, origin: str) -> Any:
    """A raw TOML or environment value as the type the field holds."""
    kind = _KEYS[name][1].type
    try:
        if kind == "tuple[tuple[str, str], ...]":  # a TOML table, or "key=value,..."
            if isinstance(value, str):
                value = dict(item.split("=", 1) for item in value.split(",") if item.strip())
            if not isinstance(value, dict):
                raise ValueError
            return tuple(sorted((str(k).strip(), str(v).strip()) for k, v in value.items()))
        if name in _DURATIONS and isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # seconds
        if kind in ("int", "int | None"):
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            return _BOOLS[str(value).strip().lower()]
        if kind == "tuple[Channel, ...]":
            if isinstance(value, str):  # an environment variable
                raise SettingsError(f"{origin}: notify is set by [[notify]] tables in a TOML file")
            return parse_channels(value)
        if kind == "tuple[str, ...]":
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip() for i in items if str(i).strip())
        if not isinstance(value, str):
            raise ValueError
        return value
    except ChannelError as exc:
        raise SettingsError(f"{origin}: {exc}") from None
    except (TypeError, ValueError, KeyError):
        raise SettingsError(f"{origin}: {name} has an invalid value {value!r}") from None


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    tables = {name: data.pop(name) for name in _TABLES if name in data}
    sections = _receive_sections(data.pop("receive", {}), path)
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise SettingsError(f"{path}: unknown setting {unknown[0]!r}")
    twice = sorted(set(data) & set(sections))
    if twice:
        raise SettingsError(f"{path}: {twice[0]} is set twice, flat and in [receive.*]; keep one")
    values = {k: _convert(k, v, str(path)) for k, v in {**data, **sections}.items()}
    if "alerts" in tables:
        values["alerts"] = _alerts(tables["alerts"], path)
    return values


def _receive_sections(table: Any, path: Path) -> dict[str, Any]:
    """The `[receive.*]` tables as flat keys: `[receive.smtp] port` is `smtp_port`."""
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: receive must be a table of [receive.*] sections")
    flat: dict[str, Any] = {}
    for section, keys in table.items():
        names = FLAT_NAMES.get(section)
        if names is None or not isinstance(keys, dict):
            raise SettingsError(f"{path}: unknown setting 'receive.{section}'")
        for key, value in keys.items():
            if key not in names:
                raise SettingsError(f"{path}: unknown setting 'receive.{section}.{key}'")
            flat[names[key]] = value
    return flat


def _alerts(table: Any, path: Path) -> AlertSettings:
    from tlsrpt.check.findings import CODES
    from tlsrpt.records import CODES as RECORD_CODES

    try:
        return parse_alert_settings(table, {*CODES, *RECORD_CODES})
    except AlertSettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _KEYS:
        var = ENV_PREFIX + name.upper()
        if env.get(var):
            values[name] = _convert(name, env[var], var)
        elif env.get(var + "_FILE"):
            path = Path(env[var + "_FILE"])
            try:
                text = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(f"{var}_FILE: cannot read {path}: {exc.strerror}") from exc
            values[name] = _convert(name, text, f"{var}_FILE")
    return values


def load_settings(
    config: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Defaults < TOML file < environment < `overrides` (None values ignored)."""
    values: dict[str, Any] = {}
    if config is not None:
        values.update(_from_toml(config))
    values.update(_from_env(os.environ if env is None else env))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return _assemble(values)


def _assemble(values: Mapping[str, Any]) -> Settings:
    """Settings from flat keys: each receiver's keys make its section."""
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for key, value in values.items():
        section, field = _KEYS.get(key, (None, None))
        if section is None or field is None:  # a key of Settings itself, or a table
            top[key] = value
        else:
            sections[section][field.name] = value
    try:
        built = {name: SECTIONS[name](**kwargs) for name, kwargs in sections.items()}
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    return Settings(**top, **built)
