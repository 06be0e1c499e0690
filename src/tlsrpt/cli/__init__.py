"""The `tlsrpt` command: one sub-command module per verb.

Exit status contract (docs/architecture.md): 0 all good, 1 problems found in the input
or the domain, 2 usage or environment error. No traceback reaches a user.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from rich.text import Text

from tlsrpt import __version__
from tlsrpt.cli.output import UsageError, err_console, safe_text

# Each module defines `register(subparsers)`; the parser it adds sets `func`,
# a callable taking the parsed namespace and returning the exit status.
COMMAND_MODULES: list[str] = [
    "parse",
    "lint",
    "import_",
    "summary",
    "reports",
    "quarantine",
    "db",
    "check",
    "serve",
    "ingest_mail",
    "user",
    "token_",
    "domain",
    "demo",
    "export",
    "watch",
    "history",
    "alerts",
    "mta_sts",
    "prune",
]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def print_error(message: str) -> None:
    """`error: MESSAGE` on stderr; the message may quote input, so it is
    made terminal-safe."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", safe_text(message)))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print_error(message)
        raise SystemExit(EXIT_USAGE)


class _SubParser(_Parser):
    """The parser of a command: an argument it does not know is refused here,
    with this command's usage (argparse would pass it up to the top-level
    parser, which shows only `tlsrpt [-h] [--version] COMMAND`)."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def command_name(module: str) -> str:
    """The verb a command module registers: `import_` -> `import`."""
    return module.rstrip("_").replace("_", "-")


def _modules_to_load(argv: Sequence[str] | None) -> list[str]:
    """Only the module of the command asked for (the web app alone takes a
    second to import); all of them for a help listing or an unknown verb."""
    args = list(sys.argv[1:] if argv is None else argv)
    verb = next(
        (a for i, a in enumerate(args) if not a.startswith("-") and not _db_value(args, i)),
        None,
    )
    by_verb = {command_name(m): m for m in COMMAND_MODULES}
    if verb in by_verb:
        return [by_verb[verb]]
    if verb is None and "--version" in args:
        return []
    return list(COMMAND_MODULES)


def _db_value(args: Sequence[str], index: int) -> bool:
    """Whether args[index] is the value of a `--db` before it."""
    return index > 0 and args[index - 1] == "--db"


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tlsrpt",
        description="SMTP TLS Reporting (RFC 8460) and MTA-STS (RFC 8461) toolkit.",
    )
    parser.add_argument("--version", action="version", version=f"tlsrpt {__version__}")
    parser.add_argument(
        "--db",
        dest="global_db",
        metavar="URL",
        help="database, for the commands that use one (the same as their --db)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_SubParser)
    for name in _modules_to_load(argv):
        importlib.import_module(f"tlsrpt.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _apply_global_db(parser, args)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print_error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # no traceback ever reaches a user
        print_error(f"{type(exc).__name__}: {exc}")
        return EXIT_USAGE


def _apply_global_db(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """`tlsrpt --db URL COMMAND` is `tlsrpt COMMAND --db URL`."""
    given = args.global_db
    if given is None:
        return
    if not hasattr(args, "db"):
        parser.error(f"--db does not apply to `{args.command}`: it uses no database")
    if args.db is not None and args.db != given:
        parser.error("--db given twice with different databases")
    args.db = given


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
