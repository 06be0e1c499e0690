"""Each receiver's settings section: `[receive.*]` tables in the TOML file
mean what the flat keys mean, and the flat keys, variables and
command-line overrides still fill the sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlsrpt.receive.settings import FLAT_NAMES, SECTIONS
from tlsrpt.settings import Settings, SettingsError, load_settings

SECTIONED = """
[receive.http]
reports_path = "/tlsrpt"
max_body_bytes = 5000
reports_rate_burst = 7

[receive.smtp]
port = 2525
host = "0.0.0.0"
recipients = ["tlsrpt@example.org", "@example.net"]
max_message_bytes = 9000

[receive.dkim]
accept_unsigned = true
require_tlsrpt_service = true

[receive.imap]
host = "imap.example.org"
user = "reports"
password = "secret"
mode = "read-only"
poll_interval_s = 30
"""

FLAT = """
reports_path = "/tlsrpt"
max_body_bytes = 5000
reports_rate_burst = 7
smtp_port = 2525
smtp_host = "0.0.0.0"
smtp_recipients = ["tlsrpt@example.org", "@example.net"]
smtp_max_message_bytes = 9000
smtp_accept_unsigned = true
dkim_require_tlsrpt_service = true
imap_host = "imap.example.org"
imap_user = "reports"
imap_password = "secret"
imap_mode = "read-only"
imap_poll_interval_s = 30
"""


def load_settings_from(tmp_path: Path, text: str, **env: str) -> Settings:
    config = tmp_path / "tlsrpt.toml"
    config.write_text(text)
    return load_settings(config, env=env)


def test_sections_mean_what_the_flat_keys_mean(tmp_path: Path) -> None:
    sectioned = load_settings_from(tmp_path, SECTIONED)
    assert sectioned == load_settings_from(tmp_path, FLAT)
    assert sectioned.http.reports_path == "/tlsrpt"
    assert (sectioned.smtp.port, sectioned.smtp.recipients) == (
        2525,
        ("tlsrpt@example.org", "@example.net"),
    )
    assert sectioned.dkim.accept_unsigned and sectioned.dkim.require_tlsrpt_service
    assert (sectioned.imap.host, sectioned.imap.mode, sectioned.imap.poll_interval_s) == (
        "imap.example.org",
        "read-only",
        30,
    )
    assert sectioned.publish.reports_path == "/tlsrpt"  # what the rua record names


def test_variables_and_overrides_keep_their_flat_names(tmp_path: Path) -> None:
    s = load_settings_from(
        tmp_path,
        "[receive.smtp]\nport = 2525\nrecipients = ['a@example.org']\n",
        TLSRPT_SMTP_PORT="2626",
        TLSRPT_SMTP_ACCEPT_UNSIGNED="yes",
    )
    assert (s.smtp.port, s.dkim.accept_unsigned) == (2626, True)
    s = load_settings(None, {"max_body_bytes": 4000, "database_url": "sqlite://"}, env={})
    assert (s.http.max_body_bytes, s.database_url) == (4000, "sqlite://")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[receive.ftp]\nport = 21\n", "unknown setting 'receive.ftp'"),
        ("[receive.smtp]\ncolour = 1\n", "unknown setting 'receive.smtp.colour'"),
        ("[receive.smtp]\nsmtp_port = 25\n", "unknown setting 'receive.smtp.smtp_port'"),
        ("receive = 1\n", "receive must be a table"),
        ("smtp_port = 25\n[receive.smtp]\nport = 25\n", "smtp_port is set twice"),
        ("[receive.smtp]\nport = 25\n", "smtp_port needs smtp_recipients"),
        ("[receive.http]\nmax_body_bytes = 0\n", "max_body_bytes must be at least 1"),
        ("[receive.imap]\nhost = 'imap.example.org'\n", "imap_host needs imap_user"),
        ("[receive.dkim]\naccept_unsigned = 'maybe'\n", "smtp_accept_unsigned has an invalid"),
    ],
)
def test_section_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings_from(tmp_path, text)


def test_every_section_field_has_one_flat_name() -> None:
    flat = [name for names in FLAT_NAMES.values() for name in names.values()]
    assert len(flat) == len(set(flat))
    for section, cls in SECTIONS.items():
        assert set(FLAT_NAMES[section]) == set(cls.__dataclass_fields__), section
