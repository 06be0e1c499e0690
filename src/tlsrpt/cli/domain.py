"""`tlsrpt domain add|list|remove|assign`: registered policy domains and the
(non-admin) users who see them in the dashboard and API. Admins see every
domain anyway."""

from __future__ import annotations

import argparse

from tlsrpt.cli.accounts import account_transaction, add_json_argument, when
from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import Column, UsageError, console, print_json_line, print_table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("domain", help="registered policy domains and their owners")
    verbs = p.add_subparsers(dest="domain_command", metavar="COMMAND", required=True)
    add = verbs.add_parser(
        "add",
        help="register a domain (and assign it to a user)",
        description="Register a policy domain; with --owner, that user may see it too.",
    )
    add.add_argument("domain", metavar="DOMAIN", help="the policy domain, e.g. example.com")
    add.add_argument("--owner", metavar="EMAIL", help="a user who may see this domain")
    add_db_argument(add)
    add_json_argument(add, '{"domain", "owner", "changed"}')
    add.set_defaults(func=run_add)

    ls = verbs.add_parser("list", help="registered domains and who they are assigned to")
    add_db_argument(ls)
    add_json_argument(ls, '{"domains": [{"domain", "owners", "created_at"}]}')
    ls.set_defaults(func=run_list)

    remove = verbs.add_parser(
        "remove",
        help="unregister a domain, or with --owner take it from one user",
        description="Unregister a domain and every assignment of it (its reports stay: admins "
        "still see a domain with reports), or with --owner take it from that user only.",
    )
    remove.add_argument("domain", metavar="DOMAIN")
    remove.add_argument("--owner", metavar="EMAIL", help="take the domain from this user only")
    add_db_argument(remove)
    add_json_argument(remove, '{"domain", "owner", "changed"}')
    remove.set_defaults(func=run_remove)

    assign = verbs.add_parser(
        "assign",
        help="give a domain to exactly these users (others lose it)",
        description="Set who sees a domain: the users given, and no one else (--none: no one). "
        "Registers the domain if need be. To add one user, use `domain add --owner`.",
    )
    assign.add_argument("domain", metavar="DOMAIN")
    assign.add_argument("emails", nargs="*", metavar="EMAIL", help="the users who see it")
    assign.add_argument("--none", action="store_true", help="take it from every user")
    add_db_argument(assign)
    add_json_argument(assign, '{"domain", "owners", "changed"}')
    assign.set_defaults(func=run_assign)


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


def run_list(args: argparse.Namespace) -> int:
    from tlsrpt.store.lifecycle import list_domains

    with opened_store(args, read_only=True) as store, store.read() as conn:
        found = list_domains(conn)
    if args.json:
        print_json_line({"domains": found})
        return 0
    if not found:
        console.print("no registered domains", markup=False)
        return 0
    print_table(
        [Column("domain"), Column("registered"), Column("owners")],
        (
            (d["domain"], when(d["created_at"]), ", ".join(d["owners"]) or "(admins only)")
            for d in found
        ),
    )
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from tlsrpt.store.lifecycle import remove_domain

    with account_transaction(args) as conn:
        name, changed = remove_domain(conn, args.domain, args.owner)
    if args.json:
        print_json_line({"domain": name, "owner": args.owner, "changed": changed})
    elif args.owner:
        verb = "taken from" if changed else "was not assigned to"
        console.print(f"{name}: {verb} {args.owner}", markup=False)
    else:
        console.print(f"{name}: {'removed' if changed else 'not registered'}", markup=False)
    return 0


def run_assign(args: argparse.Namespace) -> int:
    from tlsrpt.store.lifecycle import assign_domain

    if bool(args.emails) == args.none:
        raise UsageError("give the users who see the domain, or --none (not both)")
    with account_transaction(args) as conn:
        name, owners, changed = assign_domain(conn, args.domain, args.emails)
    if args.json:
        print_json_line({"domain": name, "owners": owners, "changed": changed})
    else:
        who = ", ".join(owners) or "admins only"
        console.print(f"{name}: {who}{'' if changed else ' (unchanged)'}", markup=False)
    return 0
