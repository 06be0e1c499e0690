"""What `tlsrpt mta-sts` prints: a version with its records, notes and
next step, and a refused promotion; for people (terminal-safe lines) or as
one JSON object."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tlsrpt.cli.output import print_json_line, say
from tlsrpt.mtasts import (
    PolicyVersion,
    Promotion,
    as_json,
    expected_records,
    next_step,
    publish_notes,
)

if TYPE_CHECKING:
    from tlsrpt.settings import Settings

EXIT_REFUSED = 1


def when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def print_version(version: PolicyVersion, settings: Settings, headline: str) -> None:
    domain = version.domain
    say(headline)
    say(f"served at https://mta-sts.{domain}/.well-known/mta-sts.txt:")
    for line in version.text.splitlines():
        say("  ", line)
    say("DNS records to publish:")
    for record in expected_records(domain, version, settings.publish):
        say("  ", record.zone_line())
    for note in publish_notes(domain, settings.publish):
        say("note: ", note)


def describe(version: PolicyVersion) -> str:
    return (
        f"{version.domain}: version {version.version} (id {version.id}), mode {version.mode}, "
        f"max_age {version.max_age}, mx {', '.join(version.mx) or '(none)'}"
    )


def output(
    args: argparse.Namespace,
    settings: Settings,
    history: Sequence[PolicyVersion],
    headline: str,
    now: datetime,
    **extra: Any,
) -> None:
    current = history[-1]
    step = next_step(history, now)
    if args.json:
        records = expected_records(current.domain, current, settings.publish)
        notes = publish_notes(current.domain, settings.publish)
        print_json_line(as_json(current, records, notes=notes, next_step=step.as_dict(), **extra))
        return
    print_version(current, settings, headline)
    say("next: ", step.text)


def refused(
    args: argparse.Namespace,
    domain: str,
    current: PolicyVersion | None,
    promotion: Promotion,
    settings: Settings,
) -> int:
    """Exit 1 with the reasons; `current` is None when nothing is hosted yet."""
    if args.json:
        if current is None:
            print_json_line(
                {"domain": domain, "policy": None, "records": [], "promotion": promotion.as_dict()}
            )
        else:
            records = expected_records(domain, current, settings.publish)
            print_json_line(as_json(current, records, promotion=promotion.as_dict()))
        return EXIT_REFUSED
    state = f"{current.mode}, max_age {current.max_age}" if current else "not hosted"
    say(f"{domain}: not promoted to enforce ({state}):", err=True)
    for blocker in promotion.blockers:
        say(f"  - {blocker.check}: ", blocker.text, err=True)
    say("  (--force promotes anyway, and notes it on the new version)", err=True)
    return EXIT_REFUSED
