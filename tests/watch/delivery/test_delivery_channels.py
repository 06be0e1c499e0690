"""`[[notify]]` tables: parsed into channels, or refused with an error that
names the table and the key."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from tlsrpt.channels import (
    AppriseChannel,
    ChannelError,
    EmailChannel,
    Scope,
    WebhookChannel,
    parse_channels,
)

EXAMPLE = """
[[notify]]
type = "webhook"
name = "ops"
url = "https://hooks.example.net/tlsrpt"
secret = "s3cret"

[[notify]]
type = "email"
to = ["postmaster@example.com", "noc@example.com"]
from = "tlsrpt@example.com"
smtp_url = "smtp://alerts:p%40ss@smtp.example.com"
digest = true
owners = ["Customer@Example.NET"]

[[notify]]
type = "apprise"
url = "ntfy://ntfy.example.net/tlsrpt"
domains = ["Example.ORG."]
"""


def test_example_parses_with_defaults() -> None:
    webhook, email, apprise = parse_channels(tomllib.loads(EXAMPLE)["notify"])
    assert webhook == WebhookChannel("ops", "https://hooks.example.net/tlsrpt", "s3cret")
    assert webhook.timeout_s == 10.0
    assert isinstance(email, EmailChannel)
    assert email.name == "email-2"
    assert email.to == ("postmaster@example.com", "noc@example.com")
    assert (email.server.host, email.server.port, email.server.implicit_tls) == (
        "smtp.example.com",
        587,
        False,
    )
    assert (email.server.user, email.server.password) == ("alerts", "p@ss")
    assert "p@ss" not in repr(email)
    assert email.digest and email.starttls
    assert email.scope == Scope((), ("customer@example.net",))
    assert isinstance(apprise, AppriseChannel)
    assert apprise.scope.domains == ("example.org",)
    assert "tlsrpt" not in repr(apprise)  # the URL can hold a token


def test_smtps_defaults_to_port_465() -> None:
    (email,) = parse_channels(
        [
            {
                "type": "email",
                "to": "a@example.com",
                "from": "b@example.com",
                "smtp_url": "smtps://mail.example.com",
            }
        ]
    )
    assert isinstance(email, EmailChannel)
    assert (email.server.implicit_tls, email.server.port, email.server.user) == (True, 465, None)


WEBHOOK = {"type": "webhook", "url": "https://h.example/x", "secret": "k"}
EMAIL = {
    "type": "email",
    "to": ["a@example.com"],
    "from": "b@example.com",
    "smtp_url": "smtp://mail.example.com",
}


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        (
            [WEBHOOK, {"type": "pager"}],
            "[[notify]] #2: type: must be one of webhook, email, apprise",
        ),
        ([{**WEBHOOK, "url": None}], "[[notify]] #1: url: missing"),
        ([{**WEBHOOK, "url": "ftp://h.example/"}], "#1: url: must be an http:// or https:// URL"),
        ([{**WEBHOOK, "url": "https://h.example:99999/"}], "#1: url: not a URL"),
        ([{**WEBHOOK, "secret": ""}], "#1: secret: must be a non-empty string"),
        ([{**WEBHOOK, "secrets": "x"}], "#1: secrets: unknown key for a webhook channel"),
        ([{**WEBHOOK, "timeout_s": 0}], "#1: timeout_s: must be a number of seconds"),
        ([{**WEBHOOK, "name": "a b"}], "#1 ('a b'): name: letters, digits"),
        ([{**WEBHOOK, "name": "x"}, {**EMAIL, "name": "x"}], "#2 ('x'): name: 'x' is used"),
        ([{**WEBHOOK, "domains": [1]}], "#1: domains: must be a list of non-empty strings"),
        ([{**WEBHOOK, "owners": ["nobody"]}], "#1: owners: 'nobody' is not an e-mail address"),
        ([{**EMAIL, "to": []}], "#1: to: needs at least one address"),
        ([{**EMAIL, "to": ["a@b.example\r\nBcc: x@y.example"]}], "#1: to: 'a@b.example"),
        ([{**EMAIL, "from": "me"}], "#1: from: 'me' is not an e-mail address"),
        ([{**EMAIL, "smtp_url": "http://mail.example.com"}], "#1: smtp_url: must be smtp://"),
        ([{**EMAIL, "smtp_url": "smtp://mail.example.com/x"}], "#1: smtp_url: takes no path"),
        ([{**EMAIL, "digest": "yes"}], "#1: digest: must be true or false"),
        (
            [{**EMAIL, "smtp_url": "smtp://u:p@mail.example.com", "starttls": False}],
            "#1: starttls: false would send the SMTP password unencrypted",
        ),
        ([{"type": "apprise", "url": "nosuch://x"}], "#1: url: not a URL Apprise can use"),
        (["webhook"], "[[notify]] #1: must be a table"),
    ],
)
def test_errors_name_the_table_and_key(tables: list[Any], message: str) -> None:
    with pytest.raises(ChannelError) as caught:
        parse_channels(tables)
    assert message in str(caught.value)


def test_control_characters_are_refused() -> None:
    with pytest.raises(ChannelError, match="#1: secret: must not contain control characters"):
        parse_channels([{**WEBHOOK, "secret": "a\nb"}])


def test_scope_matches_domains_or_owners() -> None:
    everything = Scope()
    limited = Scope(("example.com",), ("customer@example.net",))
    assert everything.matches("any.example") and everything.matches(None)
    assert limited.matches("EXAMPLE.com.")
    assert limited.matches("other.example", ["Customer@example.net"])
    assert not limited.matches("other.example", ["someone@example.net"])
    assert not limited.matches(None)
