"""The `tlsrpt` command: one sub-command module per verb.

Exit status contract (DESIGN.md): 0 all good, 1 problems found in the input
or the domain, 2 usage or environment error. No traceback reaches a user.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tlsrpt import __version__
from tlsrpt.cli.output import UsageError, err_console

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
    "alerts",
]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
        raise SystemExit(EXIT_USAGE)


def command_name(module: str) -> str:
    """The verb a command module registers: `import_` -> `import`."""
    return module.rstrip("_").replace("_", "-")


def _modules_to_load(argv: Sequence[str] | None) -> list[str]:
    """Only the module of the command asked for (the web app alone takes a
    second to import); all of them for a help listing or an unknown verb."""
    args = list(sys.argv[1:] if argv is None else argv)
    verb = next((a for a in args if not a.startswith("-")), None)
    by_verb = {command_name(m): m for m in COMMAND_MODULES}
    if verb in by_verb:
        return [by_verb[verb]]
    if verb is None and "--version" in args:
        return []
    return list(COMMAND_MODULES)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tlsrpt",
        description="SMTP TLS Reporting (RFC 8460) and MTA-STS (RFC 8461) toolkit.",
    )
    parser.add_argument("--version", action="version", version=f"tlsrpt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _modules_to_load(argv):
        importlib.import_module(f"tlsrpt.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except UsageError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # no traceback ever reaches a user
        err_console.print(f"error: {type(exc).__name__}: {exc}", markup=False, highlight=False)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
