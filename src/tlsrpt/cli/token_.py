"""`tlsrpt token create EMAIL`: a new API token for a user, printed once
(only its hash is stored). Use it as `Authorization: Bearer TOKEN`."""

from __future__ import annotations

import argparse

from tlsrpt.cli.accounts import account_transaction
from tlsrpt.cli.db import add_db_argument
from tlsrpt.cli.output import print_json_line


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("token", help="API tokens")
    verbs = p.add_subparsers(dest="token_command", metavar="COMMAND", required=True)
    create = verbs.add_parser(
        "create",
        help="create an API token for a user and print it",
        description="Print a new token for `Authorization: Bearer TOKEN`. It is shown only once.",
    )
    create.add_argument("email", metavar="EMAIL", help="the user the token acts as")
    add_db_argument(create)
    create.add_argument("--json", action="store_true", help='print {"email", "token"}')
    create.set_defaults(func=run_create)


def run_create(args: argparse.Namespace) -> int:
    from tlsrpt.store.users import create_token, normalize_email

    with account_transaction(args) as conn:
        token = create_token(conn, args.email)
    if args.json:
        print_json_line({"email": normalize_email(args.email), "token": token})
    else:
        print(token)
    return 0
