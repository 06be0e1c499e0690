"""Settings precedence and validation (pure, no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlsrpt.settings import Settings, SettingsError, load_settings


def test_defaults() -> None:
    s = load_settings(env={})
    assert (s.host, s.port, s.database_url, s.http.reports_path) == (
        "127.0.0.1",
        8080,
        None,
        "/v1/reports",
    )
    assert s.http.max_body_bytes == 10 * 1024 * 1024
    assert s.trusted_proxies == ()


def test_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'host = "0.0.0.0"\nport = 1000\nmax_body_bytes = 5\ntrusted_proxies = ["10.0.0.1"]\n'
    )
    s = load_settings(
        cfg, {"port": 3000, "host": None}, env={"TLSRPT_PORT": "2000", "TLSRPT_MAX_BODY_BYTES": "7"}
    )
    assert (s.host, s.port, s.http.max_body_bytes, s.trusted_proxies) == (
        "0.0.0.0",
        3000,
        7,
        ("10.0.0.1",),
    )
    s = load_settings(env={"TLSRPT_TRUSTED_PROXIES": "127.0.0.1, ::1"})
    assert s.trusted_proxies == ("127.0.0.1", "::1")


def test_file_variable(tmp_path: Path) -> None:
    secret = tmp_path / "url"
    secret.write_text("postgresql://u:pw@127.0.0.1/db\n")
    s = load_settings(env={"TLSRPT_DATABASE_URL_FILE": str(secret)})
    assert s.database_url == "postgresql://u:pw@127.0.0.1/db"


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("colour = 1\n", {}, "unknown setting 'colour'"),
        ("port = \n", {}, "not valid TOML"),
        ('port = "x"\n', {}, "port has an invalid value"),
        ("port = true\n", {}, "port has an invalid value"),
        ("", {"TLSRPT_PORT": "eighty"}, "TLSRPT_PORT: port has an invalid value"),
        ("", {"TLSRPT_HOST_FILE": "/nonexistent"}, "cannot read"),
        ('reports_path = "v1"\n', {}, "must start with '/'"),
        ("max_body_bytes = 0\n", {}, "at least 1"),
        ('keyfile = "k.pem"\n', {}, "give both or neither"),
    ],
)
def test_errors(tmp_path: Path, toml: str, env: dict[str, str], message: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    with pytest.raises(SettingsError, match=message):
        load_settings(cfg, env=env)


def test_port_range() -> None:
    with pytest.raises(SettingsError, match="out of range"):
        Settings(port=65536)


def test_smtp_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'smtp_port = 2525\nsmtp_recipients = ["tlsrpt@example.org"]\nsmtp_accept_unsigned = true\n'
    )
    s = load_settings(cfg, env={"TLSRPT_DKIM_REQUIRE_TLSRPT_SERVICE": "yes"})
    assert (s.smtp.port, s.smtp.recipients, s.dkim.accept_unsigned) == (
        2525,
        ("tlsrpt@example.org",),
        True,
    )
    assert s.dkim.require_tlsrpt_service is True
    assert load_settings(env={}).smtp.port is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TLSRPT_SMTP_PORT": "25"}, "never a relay"),
        ({"TLSRPT_SMTP_ACCEPT_UNSIGNED": "maybe"}, "smtp_accept_unsigned has an invalid value"),
        ({"TLSRPT_SMTP_PORT": "99999", "TLSRPT_SMTP_RECIPIENTS": "a@b.example"}, "out of range"),
    ],
)
def test_smtp_settings_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env=env)


def test_connection_and_memory_limits_from_toml_and_env(tmp_path: Path) -> None:
    defaults = load_settings(env={})
    assert (
        defaults.header_timeout_s,
        defaults.keepalive_timeout_s,
        defaults.max_connections,
        defaults.http.max_inflight_body_bytes,
        defaults.http.quarantine_budget_inputs,
        defaults.http.quarantine_budget_bytes,
    ) == (15, 5, 1000, 128 * 1024 * 1024, 1000, 100 * 1024 * 1024)
    cfg = tmp_path / "c.toml"
    cfg.write_text("header_timeout_s = 3\nmax_connections = 50\nquarantine_budget_inputs = 0\n")
    s = load_settings(
        cfg,
        env={
            "TLSRPT_KEEPALIVE_TIMEOUT_S": "2",
            "TLSRPT_MAX_INFLIGHT_BODY_BYTES": str(64 * 1024 * 1024),
            "TLSRPT_QUARANTINE_BUDGET_BYTES": "1000",
        },
    )
    assert (
        s.header_timeout_s,
        s.keepalive_timeout_s,
        s.max_connections,
        s.http.max_inflight_body_bytes,
        s.http.quarantine_budget_inputs,
        s.http.quarantine_budget_bytes,
    ) == (3, 2, 50, 64 * 1024 * 1024, 0, 1000)


def test_receiver_rate_limit_from_toml_and_env(tmp_path: Path) -> None:
    defaults = load_settings(env={})
    # a provider's 10,000 domains, each reported by one sender after midnight
    assert (defaults.http.reports_rate_burst, defaults.http.reports_rate_per_s) == (20_000, 50)
    cfg = tmp_path / "c.toml"
    cfg.write_text("reports_rate_burst = 50000\nreports_rate_per_s = 10\n")
    s = load_settings(cfg, env={"TLSRPT_REPORTS_RATE_PER_S": "200"})
    assert (s.http.reports_rate_burst, s.http.reports_rate_per_s) == (50_000, 200)
    with pytest.raises(SettingsError, match="reports_rate_burst has an invalid value"):
        load_settings(env={"TLSRPT_REPORTS_RATE_BURST": "lots"})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"header_timeout_s": 0}, "header_timeout_s must be at least 1"),
        ({"max_connections": 0}, "max_connections must be at least 1"),
        ({"quarantine_budget_bytes": -1}, "quarantine_budget_bytes must be at least 0"),
        ({"reports_rate_burst": 0}, "reports_rate_burst must be at least 1"),
        ({"reports_rate_per_s": 0}, "reports_rate_per_s must be at least 1"),
        (
            {"max_body_bytes": 2000, "max_inflight_body_bytes": 1000},
            "max_inflight_body_bytes must be at least max_body_bytes",
        ),
    ],
)
def test_limits_are_checked(values: dict[str, int], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(overrides=values, env={})
