"""`tlsrpt user add|list|remove|disable|enable|passwd`: dashboard and API
users. Passwords are asked for on the terminal, or read from the first line
of standard input with --password-stdin.

Cutting someone off takes effect on their next request: `disable` ends
their dashboard sessions and refuses their tokens and logins (`enable`
gives the tokens back); `remove` deletes the user with their tokens,
sessions and domain assignments; `passwd` ends every session of the user.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from tlsrpt.cli.accounts import account_transaction, add_json_argument, when
from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import Column, UsageError, console, print_json_line, print_table


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
    _password_argument(add)
    add_db_argument(add)
    add_json_argument(add, '{"id", "email", "admin"}')
    add.set_defaults(func=run_add)

    ls = verbs.add_parser("list", help="every user, with their usable tokens and domains")
    add_db_argument(ls)
    add_json_argument(ls, '{"users": [...]}')
    ls.set_defaults(func=run_list)

    remove = verbs.add_parser(
        "remove",
        help="delete a user with their tokens, sessions and domain assignments",
        description="Delete a user. Their tokens and dashboard sessions stop working at once; "
        "the domains given to them stay registered, without them.",
    )
    remove.add_argument("email", metavar="EMAIL")
    add_db_argument(remove)
    add_json_argument(remove, '{"email", "removed", "tokens", "sessions", "domains"}')
    remove.set_defaults(func=run_remove)

    for verb, helptext in (
        ("disable", "refuse a user's logins and tokens, and end their sessions"),
        ("enable", "let a disabled user in again (their tokens work again)"),
    ):
        toggle = verbs.add_parser(
            verb, help=helptext, description=helptext[0].upper() + helptext[1:] + "."
        )
        toggle.add_argument("email", metavar="EMAIL")
        add_db_argument(toggle)
        add_json_argument(toggle, '{"email", "disabled", "changed", "sessions_ended"}')
        toggle.set_defaults(func=run_toggle, disable=verb == "disable")

    passwd = verbs.add_parser(
        "passwd",
        help="set a user's password and end their dashboard sessions",
        description="Set a new password; every dashboard session of the user ends. "
        "API tokens are not touched (`tlsrpt token revoke`).",
    )
    passwd.add_argument("email", metavar="EMAIL")
    _password_argument(passwd)
    add_db_argument(passwd)
    add_json_argument(passwd, '{"email", "sessions_ended"}')
    passwd.set_defaults(func=run_passwd)


def _password_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )


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


def run_list(args: argparse.Namespace) -> int:
    from tlsrpt.store.lifecycle import list_users

    with opened_store(args, read_only=True) as store, store.read() as conn:
        found = list_users(conn)
    if args.json:
        print_json_line({"users": [u.as_dict() for u in found]})
        return 0
    if not found:
        console.print("no users yet: add one with `tlsrpt user add EMAIL --admin`", markup=False)
        return 0
    columns = ("id", "e-mail", "role", "state", "created", "tokens", "domains")
    print_table(
        [Column(c, numeric=c in ("id", "tokens")) for c in columns],
        (
            (
                u.id,
                u.email,
                "admin" if u.admin else "user",
                f"disabled {when(u.disabled_at)}" if u.disabled_at else "enabled",
                when(u.created_at),
                u.active_tokens,
                ", ".join(u.domains) if not u.admin else "(all)",
            )
            for u in found
        ),
    )
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from tlsrpt.store.lifecycle import remove_user

    with account_transaction(args) as conn:
        removed = remove_user(conn, args.email)
    if args.json:
        print_json_line(
            {
                "email": removed.email,
                "removed": True,
                "tokens": removed.tokens,
                "sessions": removed.sessions,
                "domains": list(removed.domains),
            }
        )
    else:
        text = f"removed {removed.email} ({removed.tokens} tokens, {removed.sessions} sessions)"
        if removed.domains:
            text += f"; taken from them: {', '.join(removed.domains)}"
        console.print(text, markup=False)
    return 0


def run_toggle(args: argparse.Namespace) -> int:
    from tlsrpt.store.lifecycle import set_disabled

    with account_transaction(args) as conn:
        email, changed, ended = set_disabled(conn, args.email, args.disable)
    if args.json:
        print_json_line(
            {"email": email, "disabled": args.disable, "changed": changed, "sessions_ended": ended}
        )
        return 0
    state = "disabled" if args.disable else "enabled"
    if not changed:
        console.print(f"{email}: already {state}", markup=False)
    else:
        ended_text = f"; {ended} dashboard sessions ended" if args.disable else ""
        console.print(f"{email}: {state}{ended_text}", markup=False)
    return 0


def run_passwd(args: argparse.Namespace) -> int:
    from tlsrpt.store.lifecycle import set_password

    password = _password(args)
    with account_transaction(args) as conn:
        email, ended = set_password(conn, args.email, password)
    if args.json:
        print_json_line({"email": email, "sessions_ended": ended})
    else:
        console.print(f"{email}: password changed; {ended} dashboard sessions ended", markup=False)
    return 0
