"""`tlsrpt watch`, `tlsrpt history` and `tlsrpt serve`'s watcher: exit
statuses, terminal safety, a graceful stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from checklab.https_server import HttpAnswer
from checklab.zones import DomainSpec, PolicySpec, txt_rdata

from tlsrpt.store.engine import open_store
from tlsrpt.store.users import add_domain


def _db(tmp_path: Path, *domains: str) -> str:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    store = open_store(url)
    with store.write() as conn:
        for domain in domains:
            add_domain(conn, domain)
    store.close()
    return url


def _rows(url: str, sql: str) -> list[Any]:
    store = open_store(url)
    try:
        with store.read() as conn:
            return list(conn.execute(sa.text(sql)))
    finally:
        store.close()


def test_nothing_to_watch(run_cli: Any, tmp_path: Path) -> None:
    run = run_cli("watch", "--once", "--db", _db(tmp_path), "--nameserver", "127.0.0.1")
    assert run.status == 0
    assert "no domain to watch: register domains with `tlsrpt domain add`" in run.stderr


def test_nothing_to_watch_still_ends_with_a_json_summary(run_cli: Any, tmp_path: Path) -> None:
    run = run_cli("watch", "--once", "--json", "--db", _db(tmp_path), "--nameserver", "127.0.0.1")
    assert run.status == 0
    (line,) = [json.loads(text) for text in run.stdout.splitlines()]
    assert line["summary"]["domains"] == 0
    assert line["summary"]["alerts"] == {"firing": 0, "new": 0, "resolved": 0}


def test_help_shows_the_defaults_the_watcher_uses() -> None:
    from tlsrpt.settings import Settings
    from tlsrpt.watch.wiring import checker_options

    used = checker_options(Settings())
    shown = subprocess.run(
        [sys.executable, "-m", "tlsrpt", "watch", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "400"},
    ).stdout
    flat = " ".join(shown.split("\noptions:", 1)[1].split())

    def help_of(option: str) -> str:
        start = flat.index(f" {option} ")
        return flat[start : flat.find(" --", start + 2)]

    expected = {
        "--concurrency": f"watch_concurrency, {used.concurrency} if not set",
        "--smtp-port": f"watch_smtp_port, {used.smtp_port} if not set",
        "--https-port": f"watch_https_port, {used.https_port} if not set",
        "--expiry-warning-days": f"[alerts], {used.expiry_warning_days} if not set",
        "--ca-file": "watch_ca_file, none if not set",
        "--allow-private-addresses": "watch_allow_private_addresses, off if not set",
        "--nameserver": "dns_nameservers and dns_port, the system's if not set",
    }
    for option, text in expected.items():
        assert text in help_of(option), help_of(option)
    assert used.expiry_warning_days == 31 and "(default: 14)" not in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ca-file", "/nonexistent/ca.pem"], "--ca-file /nonexistent/ca.pem: No such file"),
        (["--nameserver", "ns.example"], "is not an IP address"),
        (["--db", "sqlite:////nonexistent/dir/w.db"], "cannot open database"),
    ],
)
def test_environment_errors(run_cli: Any, tmp_path: Path, args: list[str], message: str) -> None:
    base = ["--db", _db(tmp_path, "example.com"), "--nameserver", "127.0.0.1"]
    run = run_cli("watch", "--once", *base, *args)
    assert run.status == 2
    assert message in run.stderr and "Traceback" not in run.stderr


def test_watching_switched_off(run_cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "tlsrpt.toml"
    config.write_text('watch_interval = "0"\n')
    db = _db(tmp_path)
    run = run_cli("watch", "--config", str(config), "--db", db, "--nameserver", "127.0.0.1")
    assert run.status == 2 and "watch_interval is 0" in run.stderr
    config.write_text('watch_interval = "often"\n')
    run = run_cli("watch", "--once", "--config", str(config), "--db", db)
    assert run.status == 2 and "watch_interval: 'often' is not a duration" in run.stderr


def test_history_of_unknown_and_unchecked_domains(run_cli: Any, tmp_path: Path) -> None:
    db = _db(tmp_path, "example.com")
    unknown = run_cli("history", "unknown.example", "--db", db)
    assert unknown.status == 2 and "unknown.example is not registered" in unknown.stderr
    fresh = run_cli("history", "Example.COM.", "--db", db, "--json")
    assert fresh.status == 0
    assert json.loads(fresh.stdout) == {
        "domain": "example.com",
        "registered": True,
        "schedule": None,
        "timeline": [],
        "current": None,
    }
    text = run_cli("history", "example.com", "--db", db)
    assert "not checked yet" in text.stdout
    bad = run_cli("history", "example.com", "--db", db, "--limit", "0")
    assert bad.status == 2


def test_hostile_record_text_stays_inert_on_the_terminal(
    live_lab: Any, run_cli: Any, tmp_path: Path
) -> None:
    """A TXT record with an escape sequence (or a bidi override) is shown
    escaped by watch and history, and stays exact in JSON."""
    domain = live_lab.add(DomainSpec(live_lab.name("hostile")))
    db = _db(tmp_path, domain)
    watch = ("watch", "--once", "--db", db, *live_lab.cli_args())
    assert run_cli(*watch).status == 0
    hostile = "v=TLSRPTv1; rua=mailto:x@example.com\x1b]0;owned\x07\u202e"
    live_lab.replace(f"_smtp._tls.{domain}", "TXT", txt_rdata(hostile))
    run = run_cli(*watch)
    assert run.status == 1  # the malformed record is an error: its alert fires
    assert "2 alert(s) firing" in run.stdout  # the error and tlsrpt-record-changed
    for out in (run.stdout, run_cli("history", domain, "--db", db).stdout):
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
        assert "\\x1b]0;owned\\x07\\u202e" in out
    history = json.loads(run_cli("history", domain, "--db", db, "--json").stdout)
    assert history["current"]["tlsrpt"]["records"] == [hostile]


def test_sigterm_lets_checks_in_progress_finish(
    wait_for: Any, live_lab: Any, tmp_path: Path
) -> None:
    slow = []
    for _ in range(2):
        name = live_lab.name("term")
        body = f"version: STSv1\nmode: enforce\nmx: mx.{name}\nmax_age: 86400\n".encode()
        live_lab.add(DomainSpec(name, policy=PolicySpec(answer=HttpAnswer(body=body, delay=1.5))))
        slow.append(name)
    db = _db(tmp_path, *slow)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlsrpt", "watch", "--json", "--db", db, *live_lab.cli_args()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TLSRPT_WATCH_JITTER": "0"},
    )
    try:
        leased = "SELECT count(*) FROM watch_schedule WHERE lease_owner IS NOT NULL"
        wait_for(lambda: _rows(db, leased)[0][0] == 2, 30, "both checks in flight")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(line["domain"] for line in lines) == sorted(slow)
    assert all(line["first"] and line["error"] is None for line in lines)
    assert _rows(db, leased)[0][0] == 0
    assert sorted(r[0] for r in _rows(db, "SELECT domain FROM watch_snapshots")) == sorted(slow)


def _up(served: Any) -> bool:
    assert served.running()
    try:
        return httpx.get(f"http://127.0.0.1:{served.port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_runs_the_watcher(wait_for: Any, live_lab: Any, tmp_path: Path) -> None:
    domain = live_lab.add(DomainSpec(live_lab.name("served")))
    db = _db(tmp_path, domain)
    served = live_lab.spawn("serve", db=db)
    try:
        wait_for(lambda: _up(served), 30, "serve answers")
        snapshots = "SELECT domain FROM watch_snapshots"
        wait_for(lambda: _rows(db, snapshots) == [(domain,)], 30, "serve checks the domain")
    finally:
        err = served.stop()
    assert "tlsrpt serve: watching registered domains every 6h" in err
    assert f"{domain}: first check; 0 errors, 0 warnings" in err  # the watcher's log line


def test_serve_without_the_watcher(wait_for: Any, live_lab: Any, tmp_path: Path) -> None:
    db = _db(tmp_path, "example.com")
    served = live_lab.spawn("serve", db=db, TLSRPT_WATCH_INTERVAL="0")
    try:
        wait_for(lambda: _up(served), 30, "serve answers")
    finally:
        err = served.stop()
    assert "watching" not in err
    assert _rows(db, "SELECT count(*) FROM watch_schedule") == [(0,)]
