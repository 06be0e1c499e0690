"""`tlsrpt user add EMAIL [--admin] [--password-stdin]`: a dashboard and API
user. Without --password-stdin the password is asked for on the terminal."""

from __future__ import annotations

import argparse
import getpass
import sys

from tlsrpt.cli.accounts import account_transaction
from tlsrpt.cli.db import add_db_argument
from tlsrpt.cli.output import UsageError, console, print_json_line


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("user", help="dashboard and API users")
    verbs = p.add_subparsers(dest="user_command", metavar="COMMAND", required=True)
    add = verbs.add_parser(
        "add",
        help="add a user (admins see every domain, others the domains given to them)",
        description="Add a user. The password is hashed with argon2id; it is never stored.",
    )
    add.add_argument("email", metavar="EMAIL", help="the user's e-mail address (login name)")
    add.add_argument("--admin", action="store_true", help="the user sees and manages everything")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    add_db_argument(add)
    add.add_argument("--json", action="store_true", help="print the user as JSON")
    add.set_defaults(func=run_add)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.email}: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the passwords differ")
    else:
        raise UsageError("no terminal to ask for the password: use --password-stdin")
    if not password:
        raise UsageError("empty password")
    return password


def run_add(args: argparse.Namespace) -> int:
    from tlsrpt.store.users import add_user

    password = _password(args)
    with account_transaction(args) as conn:
        user = add_user(conn, args.email, password, admin=args.admin)
    if args.json:
        print_json_line({"email": user.email, "admin": user.is_admin, "id": user.id})
    else:
        role = "admin" if user.is_admin else "user"
        console.print(f"added {role} {user.email}", markup=False)
    return 0
