"""The README's complete settings file (Watching domains) is valid and
does what its comments say: it watches, alerts and notifies by webhook and
e-mail."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from tlsrpt.analysis.alert_settings import checker_expiry_days
from tlsrpt.channels import EmailChannel, WebhookChannel
from tlsrpt.settings import load_settings
from tlsrpt.watch.schedule import WatchConfig

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "### Watch, alert, notify: one settings file"


def test_the_complete_settings_file_is_valid(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(HEADING) :]
    example = re.search(r"```toml\n(.*?)```", section, re.S)
    assert example is not None
    path = tmp_path / "tlsrpt.toml"
    path.write_text(example.group(1), encoding="utf-8")
    settings = load_settings(path, env={})
    config = WatchConfig.from_settings(*settings.watch_schedule())
    assert config.interval == dt.timedelta(hours=6)
    assert config.interval_for("shop.example.com") == dt.timedelta(hours=1)
    rules = settings.alerts.for_domain("example.com")
    assert rules.cooldown == dt.timedelta(hours=2)
    assert rules.param("mx-certificate-expiring", "days") == (30, 14, 7, 1)
    assert rules.param("report-failure-rate", "threshold") == 0.02
    assert checker_expiry_days(settings.alerts) == 31
    webhook, email = settings.notify
    assert isinstance(webhook, WebhookChannel) and webhook.secret
    assert isinstance(email, EmailChannel) and email.to == ("postmaster@example.com",)
    assert settings.public_url == "https://tlsrpt.example.net"
