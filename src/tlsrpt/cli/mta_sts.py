"""`tlsrpt mta-sts init|show|set|history|promote|rollback DOMAIN`: hosted
MTA-STS policies (RFC 8461) and their guided rollout (`tlsrpt.mtasts`).

Exit status: 0 done (or nothing to do), 1 refused for the domain's state
(promotion not ready, no MX to build a policy from), 2 usage or
environment error (domain not registered or not hosted, bad option,
database or resolver trouble).

`--now` (hidden) sets the clock, for tests: a UTC time such as
`2026-12-07T12:00:00Z`; the versions are stamped with it and the
readiness period ends on its day.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.mta_sts_output import EXIT_REFUSED, describe, output, refused, when
from tlsrpt.cli.output import Column, UsageError, print_json_line, print_table, say
from tlsrpt.mtasts import (
    Change,
    PolicyError,
    PolicyVersion,
    as_json,
    default_max_age,
    edit_mx,
    expected_records,
    new_version,
    plan_promotion,
)
from tlsrpt.mtasts.versions import check_mx

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from tlsrpt.analysis.readiness import Readiness
    from tlsrpt.settings import Settings


class Refused(Exception):
    """The domain's state refuses the command (exit 1); the message says why."""


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--now {text!r} is not an ISO 8601 time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _os_user() -> str:
    """Who made a version: the OS user running the command."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name, no passwd entry
        return f"uid {os.getuid()}"


def _common(parser: argparse.ArgumentParser, shape: str) -> None:
    parser.add_argument("domain", metavar="DOMAIN", help="a domain registered with `domain add`")
    add_db_argument(parser)
    parser.add_argument("--json", action="store_true", help=f"print {shape}")
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML settings file")
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="this server's public HTTPS address, e.g. https://tlsrpt.example.net "
        "(default: the public_url setting, TLSRPT_PUBLIC_URL)",
    )
    parser.add_argument("--now", help=argparse.SUPPRESS)  # the clock, for tests


_SHAPE = '{"domain", "policy": {"mode", "mx", "max_age", "id", "text", ...}, "records": [...]}'


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "mta-sts",
        help="hosted MTA-STS policies and their rollout to enforce",
        description="Host a domain's MTA-STS policy (served by `tlsrpt serve` at "
        "mta-sts.DOMAIN) and move it from testing to enforce when the reports say it is safe.",
    )
    verbs = p.add_subparsers(dest="mta_sts_command", metavar="COMMAND", required=True)
    init = verbs.add_parser(
        "init",
        help="host version 1 of a domain's policy and print the records to publish",
        description="Store version 1 of the policy of a registered domain: the mx patterns "
        "given, or else the domain's MX host names as DNS answers them now.",
    )
    _common(init, _SHAPE)
    init.add_argument("--mode", choices=["testing", "enforce"], default="testing")
    init.add_argument("--mx", action="append", metavar="PATTERN", help="an mx pattern (repeat)")
    init.add_argument("--max-age", type=int, metavar="S", help="seconds (default: the ramp's)")
    init.add_argument("--nameserver", action="append", default=[], metavar="HOST[:PORT]")
    init.add_argument("--force", action="store_true", help="--mode enforce even when not ready")
    init.set_defaults(func=run_init)

    show = verbs.add_parser("show", help="the policy served now and the records to publish")
    _common(show, _SHAPE)
    show.set_defaults(func=run_show)

    change = verbs.add_parser(
        "set",
        help="publish a new version: mode testing, mx patterns, max_age",
        description="Every change is a new version with a new id. Enforce is reached with "
        "`promote`, none with `rollback`; a change of mode without --max-age takes the "
        "ramp's max_age for that mode.",
    )
    _common(change, _SHAPE)
    change.add_argument("--mode", choices=["testing", "enforce", "none"])
    change.add_argument("--mx", action="append", metavar="PATTERN", help="replace every pattern")
    change.add_argument("--add-mx", action="append", default=[], metavar="PATTERN")
    change.add_argument("--remove-mx", action="append", default=[], metavar="PATTERN")
    change.add_argument("--max-age", type=int, metavar="S")
    change.set_defaults(func=run_set)

    hist = verbs.add_parser("history", help="every version of the domain's hosted policy")
    _common(hist, '{"domain", "current", "versions": [{"version", "mode", "mx", ...}]}')
    hist.set_defaults(func=run_history)

    promote = verbs.add_parser(
        "promote",
        help="move one step up the ramp (testing -> enforce -> longer max_age) when ready",
        description="Refused (exit 1, with the reasons) unless the readiness verdict of the "
        "last 30 days is ready and the current step has been held long enough.",
    )
    _common(promote, _SHAPE[:-1] + ', "promotion": {...}}')
    promote.add_argument("--force", action="store_true", help="promote anyway; noted")
    promote.set_defaults(func=run_promote)

    rollback = verbs.add_parser(
        "rollback",
        help="publish mode none and say when the records may be removed",
        description="RFC 8461 §8.3: mode none with the longest max_age ever published.",
    )
    _common(rollback, _SHAPE[:-1] + ', "rollback": {"published", "remove_records_after"}}')
    rollback.set_defaults(func=run_rollback)


# --- shared steps ----------------------------------------------------------


def _settings(args: argparse.Namespace) -> Settings:
    from tlsrpt.settings import SettingsError, load_settings

    try:
        return load_settings(args.config, {"public_url": args.public_url})
    except SettingsError as exc:
        raise UsageError(str(exc)) from exc


def _domain(text: str) -> str:
    from tlsrpt.store.users import AccountError, normalize_domain

    try:
        name = normalize_domain(text)
    except AccountError as exc:
        raise UsageError(str(exc)) from exc
    if not name.isascii():
        raise UsageError(
            f"{text!r}: senders ask for mta-sts.<A-label>; register and host the domain "
            "under its A-label (xn--…)"
        )
    return name


def _history(conn: Connection, domain: str) -> list[PolicyVersion]:
    from tlsrpt.store.hosted import history

    versions = history(conn, domain)
    if not versions:
        raise UsageError(f"{domain} has no hosted policy: `tlsrpt mta-sts init {domain}` first")
    return versions


def _readiness(conn: Connection, domain: str, now: datetime) -> Readiness:
    """The verdict as of `now`'s UTC day: the one the dashboard, the API and
    `tlsrpt summary` show (`tlsrpt.store.readiness_reads`)."""
    from tlsrpt.store.reads import domain_readiness

    return domain_readiness(conn, domain, now.astimezone(UTC).date())


def _publish(conn: Connection, version: PolicyVersion) -> None:
    from tlsrpt.store.hosted import publish

    publish(conn, version)


def _make(
    domain: str, history: Sequence[PolicyVersion], change: Change, now: datetime
) -> PolicyVersion:
    try:
        return new_version(domain, history, change, now=now, created_by=_os_user())
    except PolicyError as exc:
        raise UsageError(str(exc)) from exc


# --- init ------------------------------------------------------------------


async def _ask_mx(domain: str, nameservers: Sequence[str]) -> Any:
    from tlsrpt.check.resolver import Resolver

    return await Resolver(nameservers, timeout=10.0).query(domain, "MX")


def _live_mx(domain: str, nameservers: Sequence[str]) -> tuple[str, ...]:
    """The domain's MX host names, most preferred first (RFC 5321 §5.1)."""
    from tlsrpt.check.resolver import DnsStatus

    try:
        answer = asyncio.run(_ask_mx(domain, nameservers))
    except ValueError as exc:  # a bad --nameserver, no resolver configuration
        raise UsageError(str(exc)) from exc
    if answer.failed:
        raise UsageError(f"the MX lookup of {domain} failed: {answer.error or answer.status}")
    if answer.status != DnsStatus.OK:
        raise Refused(f"{domain} has no MX records ({answer.status}): give the patterns with --mx")
    hosts = [host for _, host in sorted(answer.records) if host != "."]
    if not hosts:
        raise Refused(f"{domain} publishes a null MX (RFC 7505): it receives no mail")
    names = tuple(dict.fromkeys(h.lower().rstrip(".") for h in hosts))
    try:
        return check_mx(names)
    except PolicyError as exc:
        raise Refused(f"the MX set of {domain} cannot be a policy: {exc}; give --mx") from exc


def _check_new(conn: Connection, domain: str) -> None:
    from tlsrpt.store.hosted import current_version, is_registered

    if not is_registered(conn, domain):
        raise UsageError(f"{domain} is not registered: `tlsrpt domain add {domain}` first")
    current = current_version(conn, domain)
    if current is not None:
        raise UsageError(
            f"{domain} is hosted already (version {current.version}, mode {current.mode}): "
            f"change it with `tlsrpt mta-sts set {domain}`"
        )


def run_init(args: argparse.Namespace) -> int:
    now, settings, domain = _now(args.now), _settings(args), _domain(args.domain)
    with opened_store(args) as store:
        with store.read() as conn:
            _check_new(conn, domain)
        try:
            patterns = tuple(args.mx) if args.mx else _live_mx(domain, args.nameserver)
        except Refused as exc:
            say(f"error: {exc}", err=True)
            return EXIT_REFUSED
        max_age = args.max_age if args.max_age is not None else default_max_age(args.mode)
        change = Change(args.mode, patterns, max_age, "init")
        with store.write() as conn:
            _check_new(conn, domain)
            if args.mode == "enforce":  # gated like `promote`
                probe = _make(domain, [], Change("testing", patterns, max_age), now)
                readiness = _readiness(conn, domain, now)
                promotion = plan_promotion([probe], readiness, now, force=args.force)
                if not promotion.allowed:
                    return refused(args, domain, None, promotion, settings)
                if promotion.forced:
                    why = "; ".join(b.text for b in promotion.blockers)
                    change = Change("enforce", patterns, max_age, f"init --force: {why}")
            version = _make(domain, [], change, now)
            _publish(conn, version)
    output(args, settings, [version], f"{describe(version)}: hosted", now)
    return 0


# --- show, set, history -----------------------------------------------------


def run_show(args: argparse.Namespace) -> int:
    now, settings, domain = _now(args.now), _settings(args), _domain(args.domain)
    with opened_store(args, read_only=True) as store, store.read() as conn:
        versions = _history(conn, domain)
    output(args, settings, versions, describe(versions[-1]), now)
    return 0


def _set_change(args: argparse.Namespace, current: PolicyVersion) -> Change:
    mode = args.mode or current.mode
    if mode != current.mode and mode == "enforce":
        raise UsageError(
            f"enforce is reached with `tlsrpt mta-sts promote {current.domain}` "
            "(it checks the reports first)"
        )
    if mode != current.mode and mode == "none":
        raise UsageError(
            f"mode none is published with `tlsrpt mta-sts rollback {current.domain}` "
            "(it keeps the longest max_age)"
        )
    try:
        mx = edit_mx(current.mx, replace=args.mx, add=args.add_mx, remove=args.remove_mx)
    except PolicyError as exc:
        raise UsageError(str(exc)) from exc
    if args.max_age is not None:
        max_age = args.max_age
    elif mode != current.mode:
        max_age = default_max_age(mode)
    else:
        max_age = current.max_age
    return Change(mode, mx, max_age, "set")


def run_set(args: argparse.Namespace) -> int:
    now, settings, domain = _now(args.now), _settings(args), _domain(args.domain)
    given = (args.mode, args.mx, args.add_mx, args.remove_mx, args.max_age)
    if all(not value and value != 0 for value in given):
        raise UsageError("nothing to change: give --mode, --mx, --add-mx, --remove-mx or --max-age")
    with opened_store(args) as store, store.write() as conn:
        versions = _history(conn, domain)
        current = versions[-1]
        change = _set_change(args, current)
        if (change.mode, tuple(change.mx), change.max_age) == (
            current.mode,
            current.mx,
            current.max_age,
        ):
            unchanged = True
        else:
            unchanged = False
            versions.append(_make(domain, versions, change, now))
            _publish(conn, versions[-1])
    verb = "unchanged" if unchanged else "new version published; update the _mta-sts id"
    output(
        args, settings, versions, f"{describe(versions[-1])}: {verb}", now, changed=not unchanged
    )
    return 0


def run_history(args: argparse.Namespace) -> int:
    domain = _domain(args.domain)
    with opened_store(args, read_only=True) as store, store.read() as conn:
        versions = _history(conn, domain)
    if args.json:
        print_json_line(
            {
                "domain": domain,
                "current": versions[-1].version,
                "versions": [v.policy_dict() for v in versions],
            }
        )
        return 0
    print_table(
        [
            Column("version", numeric=True),
            Column("created"),
            Column("mode"),
            Column("max_age", numeric=True),
            Column("mx"),
            Column("id"),
            Column("by"),
            Column("note"),
        ],
        (
            (
                v.version,
                when(v.created_at),
                v.mode,
                v.max_age,
                ", ".join(v.mx),
                v.id,
                v.created_by,
                v.note,
            )
            for v in versions
        ),
    )
    return 0


# --- promote, rollback ------------------------------------------------------


def run_promote(args: argparse.Namespace) -> int:
    from tlsrpt.rollout_steps import promote

    now, settings, domain = _now(args.now), _settings(args), _domain(args.domain)
    with opened_store(args) as store, store.write() as conn:
        versions = _history(conn, domain)
        try:
            promotion, version = promote(conn, versions, now, _os_user(), force=args.force)
        except PolicyError as exc:
            raise UsageError(str(exc)) from exc
        versions += [version] if version is not None else []
    if promotion.last_step:
        output(
            args,
            settings,
            versions,
            f"{describe(versions[-1])}: at the last step",
            now,
            promotion=promotion.as_dict(),
        )
        return 0
    if not promotion.allowed:
        return refused(args, domain, versions[-1], promotion, settings)
    headline = f"{describe(versions[-1])}: promoted; update the _mta-sts id"
    if promotion.forced and not args.json:
        for blocker in promotion.blockers:
            say(f"forced past {blocker.check}: ", blocker.text, err=True)
    output(args, settings, versions, headline, now, promotion=promotion.as_dict())
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    from tlsrpt.rollout_steps import rollback as take_rollback

    now, settings, domain = _now(args.now), _settings(args), _domain(args.domain)
    with opened_store(args) as store, store.write() as conn:
        versions = _history(conn, domain)
        try:
            rollback, version = take_rollback(conn, versions, now, _os_user())
        except PolicyError as exc:
            raise UsageError(str(exc)) from exc
        versions += [version] if version is not None else []
    if args.json:
        current = versions[-1]
        records = expected_records(domain, current, settings.publish)
        print_json_line(as_json(current, records, rollback=rollback.as_dict()))
        return 0
    current = versions[-1]
    done = "rolled back" if rollback.change else "already rolled back"
    say(f"{describe(current)}: {done}")
    say(f"served at https://mta-sts.{domain}/.well-known/mta-sts.txt; DNS records:")
    for record in expected_records(domain, current, settings.publish):
        say("  ", record.zone_line())
    say(
        f"keep serving this policy and _mta-sts.{domain} until {when(rollback.remove_after)} "
        f"(max_age {current.max_age} s): senders may hold an older policy until then. "
        f"After that, remove the _mta-sts.{domain} record and mta-sts.{domain} "
        "(the _smtp._tls record can stay: reports keep coming)."
    )
    return 0
