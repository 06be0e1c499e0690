"""`tlsrpt token create|list|revoke`: API tokens for `Authorization: Bearer
TOKEN`. A token is printed once, when created (only its hash is stored),
with the id that `token list` shows and `token revoke ID` takes. A revoked
or expired token, or one whose user is disabled, is refused (401) from the
next request on."""

from __future__ import annotations

import argparse
from datetime import datetime

from tlsrpt.cli.accounts import account_transaction, add_json_argument, when
from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import (
    Column,
    UsageError,
    console,
    err_console,
    print_json_line,
    print_table,
)

EXPIRES_HELP = (
    "when the token stops working: a duration (12h, 90d, 4w), a UTC day (2027-01-31: "
    "at its start) or a time (2027-01-31T12:00:00Z); default never"
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("token", help="API tokens")
    verbs = p.add_subparsers(dest="token_command", metavar="COMMAND", required=True)
    create = verbs.add_parser(
        "create",
        help="create an API token for a user and print it",
        description="Print a new token for `Authorization: Bearer TOKEN`. It is shown only once.",
    )
    create.add_argument("email", metavar="EMAIL", help="the user the token acts as")
    create.add_argument("--expires", metavar="WHEN", help=EXPIRES_HELP)
    add_db_argument(create)
    add_json_argument(create, '{"id", "email", "token", "expires_at"}')
    create.set_defaults(func=run_create)

    ls = verbs.add_parser(
        "list",
        help="tokens (never their text) with their state",
        description="Every token, oldest first: id, user, created, expiry and state "
        "(active, expired, revoked, user-disabled).",
    )
    ls.add_argument("--user", metavar="EMAIL", help="only this user's tokens")
    add_db_argument(ls)
    add_json_argument(ls, '{"tokens": [{"id", "email", "created_at", "expires_at", ...}]}')
    ls.set_defaults(func=run_list)

    revoke = verbs.add_parser(
        "revoke",
        help="revoke tokens by id: refused from the next request on",
        description="Revoke tokens (ids from `tlsrpt token list`). An unknown id revokes nothing.",
    )
    revoke.add_argument("ids", type=int, nargs="+", metavar="ID", help="token id")
    add_db_argument(revoke)
    add_json_argument(revoke, '{"revoked": [IDS], "already_revoked": [IDS]}')
    revoke.set_defaults(func=run_revoke)


def parse_expiry(text: str, now: datetime) -> datetime:
    """--expires WHEN as naive UTC, relative to `now` (naive UTC)."""
    from tlsrpt.store.users import AccountError
    from tlsrpt.store.users import parse_expiry as parsed

    try:
        return parsed(text, now)
    except AccountError as exc:
        raise UsageError(f"--expires {text}: {exc}") from None


def run_create(args: argparse.Namespace) -> int:
    from tlsrpt.store.users import issue_token, utc_now

    expires = parse_expiry(args.expires, utc_now()) if args.expires else None
    with account_transaction(args) as conn:
        issued = issue_token(conn, args.email, expires)
    if args.json:
        print_json_line(
            {
                "id": issued.id,
                "email": issued.email,
                "token": issued.token,
                "expires_at": issued.expires_at,
            }
        )
    else:
        print(issued.token)
        ending = f", expires {when(issued.expires_at)}" if issued.expires_at else ""
        err_console.print(f"token {issued.id} for {issued.email}{ending}", markup=False)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from tlsrpt.store.lifecycle import list_tokens
    from tlsrpt.store.users import AccountError

    with opened_store(args, read_only=True) as store, store.read() as conn:
        try:
            found = list_tokens(conn, args.user)
        except AccountError as exc:
            raise UsageError(str(exc)) from exc
    if args.json:
        print_json_line({"tokens": [t.as_dict() for t in found]})
        return 0
    if not found:
        console.print("no tokens", markup=False)
        return 0
    print_table(
        [Column(c, numeric=c == "id") for c in ("id", "user", "created", "expires", "state")],
        (
            (
                t.id,
                t.email,
                when(t.created_at),
                when(t.expires_at),
                f"revoked {when(t.revoked_at)}" if t.revoked_at else t.state,
            )
            for t in found
        ),
    )
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from tlsrpt.store.lifecycle import revoke_tokens

    ids = list(dict.fromkeys(args.ids))
    with account_transaction(args) as conn:
        revoked, before = revoke_tokens(conn, ids)
    if args.json:
        print_json_line({"revoked": revoked, "already_revoked": before})
    else:
        for token_id in revoked:
            console.print(f"token {token_id}: revoked", markup=False)
        for token_id in before:
            console.print(f"token {token_id}: already revoked", markup=False)
    return 0
