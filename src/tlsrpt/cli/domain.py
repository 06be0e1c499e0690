"""`tlsrpt domain add|import|list|remove|assign`: registered policy domains
and the (non-admin) users who see them in the dashboard and API. Admins see
every domain anyway."""

from __future__ import annotations

import argparse
import sys

from tlsrpt.cli.accounts import account_transaction, add_json_argument, when
from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.output import (
    Column,
    UsageError,
    console,
    print_json_line,
    print_table,
    say,
)

MAX_LIST_BYTES = 64 * 1024 * 1024  # a list of over a million names


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

    imp = verbs.add_parser(
        "import",
        help="register a list of domains at once (one a line)",
        description="Register every domain of a list, one a line (blank lines and # comments "
        "skipped), read by the same rules as `domain add`; with --owner, give all of them to "
        "that user. The valid names are written in one transaction; each refused line is "
        "named with the reason. Exit status 1 when a line was refused.",
    )
    imp.add_argument("file", metavar="FILE", help="the list, UTF-8 text (- for stdin)")
    imp.add_argument("--owner", metavar="EMAIL", help="a user who may see every domain")
    add_db_argument(imp)
    add_json_argument(
        imp, '{"added", "registered", "repeated", "refused": [{"line", "text", "error"}]}'
    )
    imp.set_defaults(func=run_import)

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


def _read_list(path: str) -> str:
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_LIST_BYTES + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_LIST_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_LIST_BYTES:
        raise UsageError(f"{path} is larger than {MAX_LIST_BYTES // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None


def run_import(args: argparse.Namespace) -> int:
    from tlsrpt.domains import read_domain_list
    from tlsrpt.store.domain_import import import_domains

    entries = read_domain_list(_read_list(args.file))
    names = [e.name for e in entries if e.name is not None and e.repeat_of is None]
    refused = [e for e in entries if e.name is None]
    repeated = sum(1 for e in entries if e.repeat_of is not None)
    with account_transaction(args) as conn:
        done = import_domains(conn, names, args.owner)
    if args.json:
        print_json_line(
            {
                "added": len(done.added),
                "registered": len(done.existing),
                "repeated": repeated,
                "assigned": len(done.assigned),
                "refused": [{"line": e.line, "text": e.text, "error": e.error} for e in refused],
            }
        )
    else:
        for e in refused:
            say(f"line {e.line}: ", e.text, f": {e.error or 'not a domain name'}", err=True)
        owner = f", {len(done.assigned)} newly given to {args.owner}" if args.owner else ""
        say(
            f"{len(done.added)} added, {len(done.existing)} registered already, "
            f"{repeated} repeated, {len(refused)} refused{owner}"
        )
    return 1 if refused else 0


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
