"""`tlsrpt domain add DOMAIN [--owner EMAIL]`: register a policy domain, and
give it to a (non-admin) user who then sees it in the dashboard and API."""

from __future__ import annotations

import argparse

from tlsrpt.cli.accounts import account_transaction
from tlsrpt.cli.db import add_db_argument
from tlsrpt.cli.output import console, print_json_line


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("domain", help="registered policy domains and their owners")
    verbs = p.add_subparsers(dest="domain_command", metavar="COMMAND", required=True)
    add = verbs.add_parser(
        "add",
        help="register a domain (and assign it to a user)",
        description="Register a policy domain; with --owner, that user may see it.",
    )
    add.add_argument("domain", metavar="DOMAIN", help="the policy domain, e.g. example.com")
    add.add_argument("--owner", metavar="EMAIL", help="the user who may see this domain")
    add_db_argument(add)
    add.add_argument("--json", action="store_true", help="print the result as JSON")
    add.set_defaults(func=run_add)


def run_add(args: argparse.Namespace) -> int:
    from tlsrpt.store.users import add_domain

    with account_transaction(args) as conn:
        name, changed = add_domain(conn, args.domain, args.owner)
    if args.json:
        print_json_line({"domain": name, "owner": args.owner, "changed": changed})
    elif changed:
        owner = f" for {args.owner}" if args.owner else ""
        console.print(f"added {name}{owner}", markup=False)
    else:
        console.print(f"{name}: already registered", markup=False)
    return 0
