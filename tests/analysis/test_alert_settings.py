"""The `[alerts]` settings: defaults, overrides, and an error naming the
place and the reason for every malformed value."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tlsrpt.analysis.alert_settings import (
    AlertSettingsError,
    checker_expiry_days,
    parse_alert_settings,
)
from tlsrpt.settings import SettingsError, load_settings

FINDINGS = {"sts-mode-none", "mx-certificate-expired"}


def test_defaults() -> None:
    settings = parse_alert_settings(None)
    rules = settings.for_domain("example.com")
    assert rules.cooldown == timedelta(hours=2)
    assert rules.enabled("report-failure-rate") and rules.enabled("sts-mode-none")
    assert rules.param("report-failure-rate", "threshold") == 0.05
    assert rules.param("reporter-silent", "silence") == timedelta(hours=48)
    assert rules.param("mx-certificate-expiring", "days") == (30, 14, 7, 1)
    assert checker_expiry_days(settings) == 31


def test_domain_over_global_over_default() -> None:
    settings = parse_alert_settings(
        {
            "cooldown": "30m",
            "rules": {
                "report-failure-rate": {"threshold": 0.2, "min_sessions": 500},
                "sts-mode-none": {"enabled": False},
            },
            "domains": {
                "Example.COM.": {
                    "cooldown": "1d",
                    "rules": {
                        "report-failure-rate": {"threshold": 0.01},
                        "sts-mode-none": {"enabled": True},
                        "mx-certificate-expiring": {"days": [7, 60, 21]},
                    },
                },
                "off.example": {"enabled": False},
            },
        },
        FINDINGS,
    )
    mine = settings.for_domain("example.com")
    assert mine.cooldown == timedelta(days=1)
    assert mine.param("report-failure-rate", "threshold") == 0.01
    assert mine.param("report-failure-rate", "min_sessions") == 500  # global
    assert mine.param("report-failure-rate", "baseline_factor") == 3.0  # default
    assert mine.enabled("sts-mode-none")
    assert mine.param("mx-certificate-expiring", "days") == (60, 21, 7)
    other = settings.for_domain("other.example")
    assert other.cooldown == timedelta(minutes=30)
    assert other.param("report-failure-rate", "threshold") == 0.2
    assert not other.enabled("sts-mode-none")
    assert not settings.for_domain("off.example").enabled("report-failure-rate")
    assert checker_expiry_days(settings) == 61


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"colldown": "1h"}, "alerts: unknown key 'colldown'"),
        ({"cooldown": "soon"}, "alerts.cooldown: 'soon' is not a duration"),
        ({"cooldown": -60}, "alerts.cooldown: -60 is not a duration"),
        (
            {"rules": {"reporter-silent": {"silence": "0"}}},
            "alerts.rules.reporter-silent.silence: must be longer than 0",
        ),
        ({"enabled": "yes"}, "alerts.enabled: must be true or false"),
        (
            {"rules": {"no-such-rule": {}}},
            "alerts.rules.no-such-rule: no alert rule 'no-such-rule'",
        ),
        (
            {"rules": {"report-failure-rate": {"treshold": 1}}},
            "alerts.rules.report-failure-rate: unknown key 'treshold'",
        ),
        (
            {"rules": {"report-failure-rate": {"threshold": 5}}},
            "threshold: must be a rate from 0 to 1",
        ),
        ({"rules": {"report-failure-rate": {"threshold": "5%"}}}, "threshold: must be a number"),
        (
            {"rules": {"report-failure-rate": {"min_sessions": 0}}},
            "min_sessions: must be a whole number of at least 1",
        ),
        (
            {"rules": {"report-failure-rate": {"min_sessions": True}}},
            "min_sessions: must be a whole number",
        ),
        (
            {"rules": {"report-failure-rate": {"baseline_factor": 0.5}}},
            "baseline_factor: must be 1 or more",
        ),
        (
            {"rules": {"mx-certificate-expiring": {"days": []}}},
            "days: must be a list of whole numbers",
        ),
        (
            {"rules": {"mx-certificate-expiring": {"days": [30, 0]}}},
            "days: must be a list of whole numbers",
        ),
        ({"rules": {"mx-certificate-expiring": {"days": [7, 7]}}}, "days: lists a day twice"),
        ({"rules": {"sts-mode-none": {"days": [7]}}}, "unknown key 'days' (known: enabled)"),
        (
            {"rules": {"reporter-silent": {"min_days": 20}}},
            "alerts: reporter-silent min_days must not exceed regular_days",
        ),
        ({"rules": "off"}, "alerts.rules: must be a table"),
        ({"domains": {"localhost": {}}}, "alerts.domains: 'localhost' is not a domain name"),
        (
            {"domains": {"a.example": {"rules": {"reports-missing": {"days": -1}}}}},
            'alerts.domains."a.example".rules.reports-missing.days',
        ),
        (
            {"domains": {"a.example": {"silence": "1h"}}},
            "unknown key 'silence' (known: enabled, cooldown, rules)",
        ),
        ({"domains": {"a.example": {}, "A.example.": {}}}, "is given twice"),
    ],
)
def test_errors_name_the_place_and_the_reason(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(AlertSettingsError) as caught:
        parse_alert_settings(raw, FINDINGS)
    assert message in str(caught.value)


def test_a_zero_cooldown_is_no_cooldown() -> None:
    settings = parse_alert_settings(
        {"cooldown": "0", "domains": {"a.example": {"cooldown": 0}, "b.example": {}}}, FINDINGS
    )
    assert settings.cooldown == timedelta(0)
    assert settings.for_domain("a.example").cooldown == timedelta(0)
    assert settings.for_domain("b.example").cooldown == timedelta(0)  # the global one
    kept = parse_alert_settings({"domains": {"a.example": {"cooldown": "0"}}}, FINDINGS)
    assert kept.for_domain("a.example").cooldown == timedelta(0)
    assert kept.for_domain("b.example").cooldown == timedelta(hours=2)


def test_the_serve_settings_read_the_alerts_table(tmp_path: Path) -> None:
    path = tmp_path / "tlsrpt.toml"
    path.write_text(
        'port = 8081\n[alerts]\ncooldown = "4h"\n'
        "[alerts.rules.sts-mode-none]\nenabled = false\n"
        '[alerts.domains."example.com".rules.report-failure-rate]\nthreshold = 0.2\n',
        encoding="utf-8",
    )
    settings = load_settings(path, env={})
    assert settings.port == 8081
    assert settings.alerts.cooldown == timedelta(hours=4)
    assert not settings.alerts.for_domain("x.example").enabled("sts-mode-none")
    assert (
        settings.alerts.for_domain("example.com").param("report-failure-rate", "threshold") == 0.2
    )
    assert load_settings(None, env={}).alerts == parse_alert_settings(None)


def test_a_bad_alerts_table_is_a_settings_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tlsrpt.toml"
    path.write_text("[alerts.rules.report-failure-rate]\nthreshold = 2\n", encoding="utf-8")
    with pytest.raises(
        SettingsError, match=r"tlsrpt\.toml: alerts\.rules\.report-failure-rate\.threshold"
    ):
        load_settings(path, env={})
