"""The watch settings and jittered due times (pure)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from tlsrpt.settings import SettingsError, load_settings
from tlsrpt.watch.schedule import WatchConfig

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_config_from_settings_names_the_bad_setting() -> None:
    with pytest.raises(ValueError, match="watch_jitter: 'soon' is not a duration"):
        WatchConfig.from_settings("6h", "soon", "7d", "10m")
    with pytest.raises(ValueError, match=r"watch_intervals\.example\.com: "):
        WatchConfig.from_settings("6h", "10m", "7d", "10m", {"example.com": "often"})
    with pytest.raises(ValueError, match="watch_lease must be at least 1 s"):
        WatchConfig.from_settings("6h", "10m", "7d", "0")


def test_next_due_is_the_interval_plus_some_jitter() -> None:
    config = WatchConfig.from_settings("6h", "10m", "7d", "10m", {"Fast.Example.": "1h"})
    rng = random.Random(1)
    dues = [config.next_due("example.net", NOW, rng) for _ in range(200)]
    assert all(
        NOW + dt.timedelta(hours=6) <= d <= NOW + dt.timedelta(hours=6, minutes=10) for d in dues
    )
    assert max(dues) - min(dues) > dt.timedelta(minutes=8)  # spread, not in step
    fast = config.next_due("fast.example", NOW, rng)  # override, name normalized
    assert NOW + dt.timedelta(hours=1) <= fast <= NOW + dt.timedelta(hours=1, minutes=10)
    assert config.override_seconds() == {"fast.example": 3600}


def test_new_domains_are_spread_but_a_few_start_at_once() -> None:
    config = WatchConfig()  # jitter 10 min
    rng = random.Random(2)
    few = config.first_due(NOW, 3, rng)
    assert all(NOW <= d <= NOW + dt.timedelta(seconds=0.3) for d in few)
    many = config.first_due(NOW, 10_000, rng)
    assert all(NOW <= d <= NOW + dt.timedelta(minutes=10) for d in many)
    assert max(many) - min(many) > dt.timedelta(minutes=9)
    in_first_second = sum(1 for d in many if d < NOW + dt.timedelta(seconds=1))
    assert in_first_second < 100  # not 10,000 at once


def test_zero_interval_turns_watching_off() -> None:
    assert not WatchConfig.from_settings("0", "10m", "7d", "10m").enabled
    assert WatchConfig().enabled


def test_settings_from_toml_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "tlsrpt.toml"
    config.write_text(
        'watch_interval = "1h"\nwatch_jitter = "5m"\nwatch_allow_private_addresses = true\n'
        '[watch_intervals]\n"example.com" = "15m"\n"quiet.example" = "0"\n'
    )
    settings = load_settings(config, env={})
    assert settings.watch_interval == "1h" and settings.watch_allow_private_addresses
    assert dict(settings.watch_intervals) == {"example.com": "15m", "quiet.example": "0"}
    parsed = WatchConfig.from_settings(*settings.watch_schedule())
    assert parsed.interval_for("example.com") == dt.timedelta(minutes=15)
    assert parsed.override_seconds()["quiet.example"] == 0
    config.write_text("watch_interval = 0\nwatch_lease = 90\n")  # numbers are seconds
    numbers = load_settings(config, env={})
    assert (numbers.watch_interval, numbers.watch_lease) == ("0", "90")
    assert not WatchConfig.from_settings(*numbers.watch_schedule()).enabled
    env = {"TLSRPT_WATCH_INTERVALS": "a.example=2h,b.example=0", "TLSRPT_WATCH_KEEPALIVE": "1d"}
    from_env = load_settings(None, env=env)
    assert dict(from_env.watch_intervals) == {"a.example": "2h", "b.example": "0"}
    assert from_env.watch_keepalive == "1d"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('watch_interval = "soon"', "watch_interval: 'soon' is not a duration"),
        ('[watch_intervals]\n"example.com" = "x"', r"watch_intervals\.example\.com"),
        ("watch_intervals = 5", "watch_intervals has an invalid value"),
        ("watch_smtp_port = 0", "watch_smtp_port 0 is out of range"),
        ("watch_concurrency = 0", "watch_concurrency must be at least 1"),
    ],
)
def test_bad_watch_settings(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "tlsrpt.toml"
    config.write_text(toml + "\n")
    with pytest.raises(SettingsError, match=message):
        load_settings(config, env={})
