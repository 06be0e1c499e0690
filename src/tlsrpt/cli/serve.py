"""`tlsrpt serve`: the command line of the server; what it starts, in
which order, and how it stops is `tlsrpt.serve.lifecycle` (the HTTP
receiver, RFC 8460 §5.4, under uvicorn; the SMTP receiver, RFC 8460 §5.3,
the IMAP poller, the watcher, the report alert rules and the daily prune
beside it, as configured).

Settings: `--config FILE` (TOML), `TLSRPT_*` variables and the options
below, in rising precedence (`tlsrpt.settings`). SIGTERM or SIGINT stops
accepting connections and lets requests in flight finish, so a report
whose bytes were committed is always answered.

`--demo` checks that the port is free before it builds the demo database
(exit 2 with a free port to try), and removes its temporary database on
any exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import orjson

from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.demo import DemoLogin, prepare_serve_demo
from tlsrpt.cli.output import SafeLogFormatter, UsageError, console, err_console
from tlsrpt.serve import StartError, lifecycle
from tlsrpt.serve.listener import check_port
from tlsrpt.settings import Settings, SettingsError, load_settings
from tlsrpt.store.lifecycle import has_users

FIRST_USER_HINT = (
    "tlsrpt serve: no users yet: create an admin with `tlsrpt user add EMAIL --admin` "
    "to log in to the dashboard and API"
)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the report receiver, the dashboard and the JSON API",
        description=(
            "Receive TLS-RPT reports POSTed to rua=https://... (RFC 8460 §5.4) and store them. "
            "Defaults: 127.0.0.1:8080, plain HTTP (put a TLS reverse proxy in front, or give "
            "--certfile/--keyfile). With smtp_* settings (--config or TLSRPT_* variables) also "
            "by SMTP for rua=mailto:, with imap_* settings from an IMAP mailbox."
        ),
    )
    p.add_argument("--config", type=Path, metavar="FILE", help="TOML settings file")
    add_db_argument(p)
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8080)")
    p.add_argument("--certfile", metavar="PEM", help="TLS certificate chain (with --keyfile)")
    p.add_argument("--keyfile", metavar="PEM", help="TLS private key (with --certfile)")
    p.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log verbosity (default info)",
    )
    p.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="log lines as text or as JSON objects (default text)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="serve a fresh database filled with demo data; prints the logins",
    )
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "database_url": args.db,
        "host": args.host,
        "port": args.port,
        "certfile": args.certfile,
        "keyfile": args.keyfile,
    }
    try:
        settings = load_settings(args.config, overrides)
    except SettingsError as exc:
        raise UsageError(str(exc)) from exc
    for name in ("certfile", "keyfile"):
        path = getattr(settings, name)
        if path is not None and not Path(path).is_file():
            raise UsageError(f"{name} {path}: no such file")
    return settings


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds, so the finally blocks clean up


@contextlib.contextmanager
def _demo_database(args: argparse.Namespace) -> Iterator[None]:
    """Without --db, a temporary SQLite database for `--demo`, removed on exit.
    SIGTERM while the data is built unwinds like Ctrl-C (serving, uvicorn
    handles both and returns)."""
    if args.db is not None:
        yield
        return
    folder = tempfile.mkdtemp(prefix="tlsrpt-demo-")
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        args.db = f"sqlite:///{Path(folder) / 'demo.sqlite3'}"
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(folder, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    if not args.demo:
        return _serve(args)
    settings = _settings(args)
    try:
        check_port(settings.host, settings.port)  # before building the demo data
    except StartError as exc:
        raise UsageError(str(exc)) from None
    with _demo_database(args):
        return _serve(args, prepare_serve_demo(args))


def _serve(args: argparse.Namespace, demo: DemoLogin | None = None) -> int:
    settings = _settings(args)
    args.db = settings.database_url
    handler = logging.StreamHandler()
    json_logs = args.log_format == "json"
    handler.setFormatter(JsonLogFormatter() if json_logs else SafeLogFormatter())
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with opened_store(args) as store:
        err_console.print(
            f"tlsrpt serve: {store.display_url}, reports at "
            f"{'https' if settings.certfile else 'http'}://{settings.host}:{settings.port}"
            f"{settings.http.reports_path}",
            markup=False,
        )
        if demo is not None:
            console.print(demo.banner(f"http://{settings.host}:{settings.port}/"), markup=False)
        with store.read() as conn:
            if not has_users(conn):  # the dashboard and API need a login
                err_console.print(FIRST_USER_HINT, markup=False)
        try:
            lifecycle.run(
                settings,
                store,
                log_level=args.log_level,
                watch=demo is None,  # the demo's domains are made up: not watched
                announce=lambda line: err_console.print(line, markup=False),
            )
        except StartError as exc:
            raise UsageError(str(exc)) from None
    return 0
