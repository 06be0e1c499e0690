"""Settings of notifications and metrics: [[notify]] tables, public_url,
metrics_token, metrics_max_domains."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlsrpt.channels import EmailChannel, WebhookChannel
from tlsrpt.settings import SettingsError, load_settings

TOML = """
public_url = "https://tlsrpt.example.net"
metrics_max_domains = 50

[[notify]]
type = "webhook"
url = "https://hooks.example.net/tlsrpt"
secret = "s3cret"

[[notify]]
type = "email"
name = "postmasters"
to = ["postmaster@example.com"]
from = "tlsrpt@example.com"
smtp_url = "smtps://mail.example.com"
digest = true
"""


def test_notify_tables_and_metrics_settings(tmp_path: Path) -> None:
    config = tmp_path / "tlsrpt.toml"
    config.write_text(TOML)
    settings = load_settings(config, env={"TLSRPT_METRICS_TOKEN": "scrape"})
    webhook, email = settings.notify
    assert isinstance(webhook, WebhookChannel) and webhook.name == "webhook-1"
    assert isinstance(email, EmailChannel) and email.digest and email.server.port == 465
    assert settings.public_url == "https://tlsrpt.example.net"
    assert (settings.metrics_token, settings.metrics_max_domains) == ("scrape", 50)
    assert load_settings(None, env={}).notify == ()
    assert load_settings(None, env={}).metrics_max_domains == 1000


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        (
            '[[notify]]\ntype = "webhook"\nurl = "https://h.example/"\n',
            {},
            "tlsrpt.toml: [[notify]] #1: secret: missing",
        ),
        ("notify = 3\n", {}, "notify: must be a list of tables"),
        ("", {"TLSRPT_NOTIFY": "x"}, "TLSRPT_NOTIFY: notify is set by [[notify]] tables"),
        ('public_url = "tlsrpt.example.net"\n', {}, "public_url 'tlsrpt.example.net' must start"),
        ("metrics_max_domains = 0\n", {}, "metrics_max_domains must be at least 1"),
    ],
)
def test_bad_settings_say_what_is_wrong(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    config = tmp_path / "tlsrpt.toml"
    config.write_text(toml)
    with pytest.raises(SettingsError) as caught:
        load_settings(config, env=env)
    assert message in str(caught.value)
