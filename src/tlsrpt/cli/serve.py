"""`tlsrpt serve`: the HTTP report receiver (RFC 8460 §5.4) under uvicorn,
and, when `smtp_port` is set, the SMTP receiver (RFC 8460 §5.3) beside it;
when `imap_host` is set, the IMAP poller in a thread; when `retention_days`
is set, a daily prune in a thread (`tlsrpt.retention`).

Settings: `--config FILE` (TOML), `TLSRPT_*` environment variables and the
options below, in rising precedence (`tlsrpt.settings`). SIGTERM or
SIGINT stops accepting connections and lets requests in flight finish, so
a report whose bytes were committed is always answered.

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
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import orjson
import uvicorn
from aiosmtpd.controller import Controller

from tlsrpt.cli.db import add_db_argument, opened_store
from tlsrpt.cli.demo import DemoLogin, prepare_serve_demo
from tlsrpt.cli.output import SafeLogFormatter, UsageError, console, err_console
from tlsrpt.cli.watch import in_process_watcher
from tlsrpt.receive.dkim_verify import txt_lookup
from tlsrpt.receive.imap import ImapConfig, ImapPoller
from tlsrpt.receive.imap import start as start_poller
from tlsrpt.receive.smtp import Recipients, ReportHandler, smtp_kwargs
from tlsrpt.retention import daily_prune
from tlsrpt.serve import StartError
from tlsrpt.serve.listener import check_port, uvicorn_config
from tlsrpt.settings import Settings, SettingsError, load_settings
from tlsrpt.store.engine import Store
from tlsrpt.store.lifecycle import has_users
from tlsrpt.web.app import create_app

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


def _smtp_controller(settings: Settings, store: Store) -> Controller | None:
    if settings.smtp_port is None:
        return None
    handler = ReportHandler(
        store,
        Recipients(settings.smtp_recipients),
        txt_lookup(list(settings.dns_nameservers) or None, settings.dns_port),
        accept_unsigned=settings.smtp_accept_unsigned,
        require_tlsrpt_service=settings.dkim_require_tlsrpt_service,
    )
    tls = None
    if settings.certfile and settings.keyfile:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(settings.certfile, settings.keyfile)
    return Controller(
        handler,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        tls_context=tls,
        **smtp_kwargs(settings.smtp_max_message_bytes),
    )


def _imap_poller(settings: Settings, store: Store) -> ImapPoller | None:
    if settings.imap_host is None:
        return None
    password = settings.imap_password
    if password is None and settings.imap_password_file is not None:
        try:
            password = Path(settings.imap_password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(
                f"imap_password_file {settings.imap_password_file}: {exc.strerror or exc}"
            ) from exc
    if settings.imap_ca_file is not None and not Path(settings.imap_ca_file).is_file():
        raise UsageError(f"imap_ca_file {settings.imap_ca_file}: no such file")
    try:
        config = ImapConfig(
            host=settings.imap_host,
            port=settings.imap_port,
            user=settings.imap_user or "",
            password=password or "",
            folder=settings.imap_folder,
            mode=settings.imap_mode,  # type: ignore[arg-type]  # checked by ImapConfig
            archive_folder=settings.imap_archive_folder,
            invalid_folder=settings.imap_invalid_folder,
            tls=settings.imap_tls,  # type: ignore[arg-type]
            ca_file=settings.imap_ca_file,
            poll_interval_s=settings.imap_poll_interval_s,
            dkim_retry_s=settings.imap_dkim_retry_s,
            accept_unsigned=settings.smtp_accept_unsigned,
            require_tlsrpt_service=settings.dkim_require_tlsrpt_service,
            max_message_bytes=settings.smtp_max_message_bytes,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    dnsfunc = txt_lookup(list(settings.dns_nameservers) or None, settings.dns_port)
    return ImapPoller(store, config, dnsfunc)


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
        config = uvicorn_config(create_app(settings, store), settings, args.log_level)
        server = uvicorn.Server(config)
        err_console.print(
            f"tlsrpt serve: {store.display_url}, reports at "
            f"{'https' if settings.certfile else 'http'}://{settings.host}:{settings.port}"
            f"{settings.reports_path}",
            markup=False,
        )
        if demo is not None:
            console.print(demo.banner(f"http://{settings.host}:{settings.port}/"), markup=False)
        with store.read() as conn:
            if not has_users(conn):  # the dashboard and API need a login
                err_console.print(FIRST_USER_HINT, markup=False)
        # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal
        # to the handler found at start: make that a no-op so a requested
        # stop exits 0 once every request in flight was answered.
        signal.signal(signal.SIGTERM, lambda *_: None)
        smtp = _smtp_controller(settings, store)
        imap = _imap_poller(settings, store)
        # The demo's domains are made up: they are not watched.
        watcher = in_process_watcher(settings, store) if demo is None else None
        pruner = daily_prune(settings, store)  # retention_days: a thread, short batches
        if smtp is not None:
            try:
                smtp.start()
            except (OSError, RuntimeError) as exc:
                raise UsageError(
                    f"could not start SMTP on {settings.smtp_host}:{settings.smtp_port}: {exc}"
                ) from exc
            err_console.print(
                f"tlsrpt serve: SMTP for {', '.join(settings.smtp_recipients)} at "
                f"{settings.smtp_host}:{settings.smtp_port}",
                markup=False,
            )
        if watcher is not None:
            watcher.start()
            err_console.print(
                f"tlsrpt serve: watching registered domains every {settings.watch_interval}",
                markup=False,
            )
        if pruner is not None:
            pruner.start()
            err_console.print(
                f"tlsrpt serve: removing reports older than {settings.retention_days} days, daily",
                markup=False,
            )
        imap_thread = None
        if imap is not None:
            imap_thread = start_poller(imap)
            err_console.print(
                f"tlsrpt serve: IMAP {imap.config.mailbox} ({imap.config.mode})", markup=False
            )
        try:
            server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; it logged why
            raise UsageError(f"could not listen on {settings.host}:{settings.port}") from None
        finally:
            if smtp is not None:
                smtp.stop()
            if imap is not None and imap_thread is not None:
                imap.stop()  # finishes the message in hand: it is committed or left in place
                imap_thread.join(timeout=60)
            if watcher is not None:
                watcher.stop(timeout=120)  # checks in progress are finished and stored
            if pruner is not None:
                pruner.stop(timeout=60)  # after the batch in progress
    return 0
