"""The watch end to end, with real servers on loopback only: the checker
lab (DNS, HTTPS policy host, SMTP with certificates made to expire in N
days), an HTTP server receiving webhooks and checking their signature, an
SMTP submission server (aiosmtpd) receiving the e-mail, and `tlsrpt watch
--once` as a postmaster runs it, on a clock the test moves.

What a postmaster who registered a domain gets: one notification when its
MX certificate enters the last 30 days and one more at 14, one when its
policy host breaks and one when it is fixed (after the cooldown), never a
flood; `watch --once` exits 1 while alerts fire and 0 once none does."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
import trustme
from checklab.https_server import HttpAnswer
from checklab.pki import CertKind
from checklab.zones import DomainSpec, MxSpec, PolicySpec
from prometheus_client import REGISTRY

from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.store import outbox
from tlsrpt.store.engine import open_store
from tlsrpt.store.users import add_domain

sys.path.insert(0, str(Path(__file__).parent / "delivery"))

from notifylab import (
    SECRET,
    Clock,
    SmtpServer,
    WebhookServer,
    WebhookTarget,
    smtp_starttls_server,
)

PUBLIC_URL = "https://tlsrpt.example.net"


@dataclass
class Postmaster:
    """What the postmaster set up and what reached them."""

    domain: str
    mx: str
    db: str
    config: Path
    cli_args: list[str]
    clock: Clock
    webhook: WebhookTarget
    mail: SmtpServer
    run_cli: Any

    def watch_once(self) -> Any:
        """`tlsrpt watch --once --config FILE --db URL <lab options>`, in this
        process, on the test's clock."""
        argv = ("watch", "--once", "--config", str(self.config), "--db", self.db, *self.cli_args)
        return self.run_cli(*argv, clock=self.clock)

    def hooks(self) -> list[dict[str, Any]]:
        """The webhooks received so far (each signature verified)."""
        assert all(r.signature_ok() for r in self.webhook.requests)
        return [orjson.loads(r.body) for r in self.webhook.requests]

    def mails(self) -> list[EmailMessage]:
        return list(self.mail.box.messages)


def _policy(mx: str) -> HttpAnswer:
    body = f"version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 86400\n"
    return HttpAnswer(body=body.encode())


def _config(path: Path, webhook: WebhookTarget, mail: SmtpServer, ca_file: Path) -> Path:
    path.write_text(
        f"""
watch_interval = "6h"
public_url = "{PUBLIC_URL}"

[alerts]
cooldown = "2h"

[[notify]]
type = "webhook"
name = "ops-hook"
url = "{webhook.url}"
secret = "{SECRET}"

[[notify]]
type = "email"
name = "postmaster-mail"
to = ["postmaster@example.org"]
from = "tlsrpt@example.net"
smtp_url = "smtp://alerts:p%40ss@127.0.0.1:{mail.port}"
ca_file = "{ca_file}"
"""
    )
    return path


@pytest.fixture
def smtp_ca(tmp_path: Path) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    path = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


@pytest.fixture
def postmaster(
    live_lab: Any,
    db_url: str,
    tmp_path: Path,
    smtp_ca: tuple[trustme.CA, Path],
    run_cli: Any,
) -> Iterator[Postmaster]:
    """A registered domain whose MX certificate expires in 29 days, its
    policy host serving an enforce policy, and the notification servers."""
    lab = live_lab.lab
    domain = live_lab.name("postmaster")
    mx = f"mx.{domain}"
    start = dt.datetime.now(dt.UTC)
    lab.pki.reissue(mx, start + dt.timedelta(days=29, hours=12))
    live_lab.add(DomainSpec(domain, mx=(MxSpec(mx),), policy=PolicySpec(answer=_policy(mx))))
    with open_store(db_url) as store, store.write() as conn:
        add_domain(conn, domain)
    server = WebhookServer()
    ca, ca_file = smtp_ca
    try:
        with smtp_starttls_server(ca) as mail:
            config = _config(tmp_path / "tlsrpt.toml", server.target, mail, ca_file)
            yield Postmaster(
                domain,
                mx,
                db_url,
                config,
                live_lab.cli_args(),
                Clock(start),
                server.target,
                mail,
                run_cli,
            )
    finally:
        server.stop()


def _alerts(p: Postmaster, *extra: str) -> list[dict[str, Any]]:
    run = p.run_cli("alerts", "list", "--db", p.db, "--json", *extra)
    assert run.status == 0, run.stderr
    return list(json.loads(run.stdout)["alerts"])


def _text_body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def _outbox(p: Postmaster) -> list[outbox.OutboxRow]:
    with open_store(p.db) as store, store.read() as conn:
        return outbox.list_rows(conn, states=outbox.STATES)


def _checks_counted(outcome: str) -> float:
    """`tlsrpt_checks_total{outcome}` in this process's metrics."""
    value = REGISTRY.get_sample_value("tlsrpt_checks_total", {"outcome": outcome})
    return value or 0.0


def test_a_postmaster_hears_of_each_change_once(postmaster: Postmaster, live_lab: Any) -> None:
    p, lab = postmaster, live_lab.lab

    # The MX certificate enters its last 30 days: one notification, on each channel.
    checks_before = _checks_counted("warning")
    first = p.watch_once()
    assert first.status == 1, first.stdout + first.stderr
    assert _checks_counted("warning") == checks_before + 1  # in /metrics
    assert "1 alert(s) firing" in first.stdout
    (hook,) = p.hooks()
    assert hook["event"] == "alert.firing" and "renotify" not in hook
    expiring = hook["alert"]
    assert (expiring["domain"], expiring["rule"], expiring["subject"]) == (
        p.domain,
        "mx-certificate-expiring",
        p.mx,
    )
    assert (expiring["state"], expiring["level"]) == ("firing", 30)
    assert "in 29 days" in expiring["summary"]
    (mail,) = p.mails()
    assert mail["Subject"] == f"[tlsrpt] FIRING: {p.domain}: {expiring['summary']}"
    assert mail["To"] == "postmaster@example.org"
    text = _text_body(mail)
    assert expiring["fix"] in text and f"{PUBLIC_URL}/domains/{p.domain}" in text

    # The same state six hours later: nothing new.
    p.clock.advance(hours=6)
    again = p.watch_once()
    assert again.status == 1
    assert len(p.hooks()) == 1 and len(p.mails()) == 1

    # Re-issued, but to expire in 13 days: the 14-day threshold notifies once more.
    lab.pki.reissue(p.mx, p.clock() + dt.timedelta(days=13, hours=12))
    p.clock.advance(hours=6)
    assert p.watch_once().status == 1
    renotify = p.hooks()[1]
    assert (renotify["event"], renotify["renotify"]) == ("alert.firing", True)
    assert (renotify["alert"]["id"], renotify["alert"]["level"]) == (expiring["id"], 14)
    assert p.mails()[1]["Subject"].startswith(f"[tlsrpt] STILL FIRING: {p.domain}: ")
    p.clock.advance(hours=6)
    assert p.watch_once().status == 1
    assert len(p.hooks()) == 2 and len(p.mails()) == 2

    # The policy host breaks (404): one notification.
    policy_host = f"mta-sts.{p.domain}"
    lab.https.serve(policy_host, HttpAnswer(status=404, reason="Not Found"), CertKind.VALID)
    p.clock.advance(hours=6)
    broken = p.watch_once()
    assert broken.status == 1 and "2 alert(s) firing (1 new, 0 resolved)" in broken.stdout
    (hook,) = p.hooks()[2:]
    assert (hook["event"], hook["alert"]["rule"], hook["alert"]["subject"]) == (
        "alert.firing",
        "sts-policy-fetch-failed",
        policy_host,
    )
    assert hook["alert"]["severity"] == "error"
    fetch_failed = hook["alert"]["id"]
    # The expiring certificate is still firing: the policy's absence does not resolve it.
    assert {(a["rule"], a["state"]) for a in _alerts(p)} == {
        ("mx-certificate-expiring", "firing"),
        ("sts-policy-fetch-failed", "firing"),
    }

    # Fixed: the alert resolves at once, its notification waits for the cooldown (2h)...
    lab.https.serve(policy_host, _policy(p.mx), CertKind.VALID)
    p.clock.advance(hours=1)
    fixed = p.watch_once()
    assert fixed.status == 1 and "1 alert(s) firing" in fixed.stdout  # the certificate's
    assert "(0 new, 1 resolved)" in fixed.stdout
    assert len(p.hooks()) == 3
    # ... and goes out once the cooldown has passed, exactly once.
    p.clock.advance(hours=2, minutes=1)
    assert p.watch_once().status == 1
    (hook,) = p.hooks()[3:]
    assert (hook["event"], hook["alert"]["id"], hook["alert"]["state"]) == (
        "alert.resolved",
        fetch_failed,
        "resolved",
    )
    assert hook["alert"]["resolved_at"] is not None
    assert p.mails()[3]["Subject"].startswith(f"[tlsrpt] RESOLVED: {p.domain}: ")

    # The certificate renewed for 90 days: nothing fires, watch --once exits 0;
    # its resolve is notified after the cooldown.
    lab.pki.reissue(p.mx, p.clock() + dt.timedelta(days=90))
    p.clock.advance(hours=1)
    calm = p.watch_once()
    assert calm.status == 0, calm.stdout + calm.stderr
    assert "0 alert(s) firing (0 new, 1 resolved)" in calm.stdout
    p.clock.advance(hours=3)
    assert p.watch_once().status == 0
    events = [(h["event"], h["alert"]["rule"]) for h in p.hooks()]
    assert events == [
        ("alert.firing", "mx-certificate-expiring"),
        ("alert.firing", "mx-certificate-expiring"),
        ("alert.firing", "sts-policy-fetch-failed"),
        ("alert.resolved", "sts-policy-fetch-failed"),
        ("alert.resolved", "mx-certificate-expiring"),
    ]
    assert len(p.mails()) == 5
    keys = [r.headers["idempotency-key"] for r in p.webhook.requests]
    assert len(set(keys)) == 5
    # Every notification delivered once, on each channel; none waiting.
    rows = _outbox(p)
    assert len(rows) == 10
    assert {(r.state, r.attempts) for r in rows} == {("delivered", 1)}
    assert sorted(r.idempotency_key for r in rows if r.channel == "ops-hook") == sorted(keys)


# --- report rules, evaluated at the end of each watcher pass ---------------------


def _daily_report(domain: str, day: dt.date, organization: str) -> bytes:
    return orjson.dumps(
        {
            "organization-name": organization,
            "date-range": {
                "start-datetime": f"{day}T00:00:00Z",
                "end-datetime": f"{day}T23:59:59Z",
            },
            "contact-info": "smtp-tls-reporting@google.com",
            "report-id": f"{organization}-{day}",
            "policies": [
                {
                    "policy": {
                        "policy-type": "sts",
                        "policy-string": ["version: STSv1", "mode: enforce"],
                        "policy-domain": domain,
                    },
                    "summary": {
                        "total-successful-session-count": 1000,
                        "total-failure-session-count": 0,
                    },
                }
            ],
        }
    )


def test_a_reporter_that_stops_is_notified_once(postmaster: Postmaster) -> None:
    """Google reported every day for two weeks, then stops: one
    reporter-silent notification once 48 hours have passed, none before,
    none again; it resolves when Google reports again."""
    p = postmaster
    today = p.clock().date()
    with open_store(p.db) as store:
        for back in range(1, 15):
            day = today - dt.timedelta(days=back)
            result = ingest(
                store, _daily_report(p.domain, day, "Google LLC"), SourceInfo("file", "t")
            )
            assert result.outcome == "accepted", result.reason

    def silent() -> list[dict[str, Any]]:
        return [h for h in p.hooks() if h["alert"]["rule"] == "reporter-silent"]

    # The clock starts at the real time of day (the lab's certificates are
    # real); the steps below count from the end of the last day Google covered.
    covered_until = dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC)
    p.watch_once()  # less than 24 h after it
    assert silent() == []
    p.clock.now = covered_until + dt.timedelta(hours=30)  # yesterday's report is late
    p.watch_once()
    assert silent() == []
    p.clock.now = covered_until + dt.timedelta(hours=56)  # more than 48 h
    p.watch_once()
    (hook,) = silent()
    assert (hook["event"], hook["alert"]["subject"]) == ("alert.firing", "Google LLC")
    p.clock.advance(hours=6)
    p.watch_once()
    assert len(silent()) == 1

    late = p.clock().date() - dt.timedelta(days=1)
    with open_store(p.db) as store:
        ingest(store, _daily_report(p.domain, late, "Google LLC"), SourceInfo("file", "t"))
    p.watch_once()
    p.clock.advance(hours=3)  # past the cooldown
    p.watch_once()
    assert [h["event"] for h in silent()] == ["alert.firing", "alert.resolved"]


# --- one transaction: the check, its alerts, their notifications ------------------


def _refuse_outbox_rows(db: str, refuse: bool) -> None:
    """A database that refuses (or again accepts) outbox rows: a trigger."""
    with open_store(db) as store, store.write() as conn:
        if conn.dialect.name == "sqlite":
            if refuse:
                conn.exec_driver_sql(
                    "CREATE TRIGGER refuse BEFORE INSERT ON outbox "
                    "BEGIN SELECT RAISE(ABORT, 'the outbox is full'); END"
                )
            else:
                conn.exec_driver_sql("DROP TRIGGER refuse")
        elif refuse:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger AS "
                "$$ BEGIN RAISE EXCEPTION 'the outbox is full'; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON outbox "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        else:
            conn.exec_driver_sql("DROP TRIGGER refuse ON outbox")


def _count(db: str, table: str) -> int:
    with open_store(db) as store, store.read() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_a_notification_that_cannot_be_written_leaves_no_alert(
    postmaster: Postmaster,
) -> None:
    """The outbox row is written in the transaction of the check and its
    alert: when it cannot be, neither are they; the next run does it all."""
    p = postmaster
    _refuse_outbox_rows(p.db, True)
    failed = p.run_cli("watch", "--once", "--config", str(p.config), "--db", p.db, *p.cli_args)
    assert failed.status == 2 and "the outbox is full" in failed.stderr
    assert "Traceback" not in failed.stderr
    for table in ("alerts", "alert_events", "outbox", "watch_snapshots"):
        assert _count(p.db, table) == 0, table
    assert p.hooks() == [] and p.mails() == []

    _refuse_outbox_rows(p.db, False)
    assert p.watch_once().status == 1
    assert [h["alert"]["rule"] for h in p.hooks()] == ["mx-certificate-expiring"]
    assert (_count(p.db, "alerts"), _count(p.db, "outbox")) == (1, 2)


# --- tlsrpt serve and tlsrpt watch side by side ------------------------------------


def test_serve_and_watch_together_notify_once(
    postmaster: Postmaster, live_lab: Any, wait_for: Any
) -> None:
    """`tlsrpt serve` (its watcher thread enqueues, its app's deliverer
    sends) and `tlsrpt watch` (watcher and deliverer in one loop) on one
    database: the domain is checked once, its notification sent once."""
    p = postmaster
    config = str(p.config)
    procs = [live_lab.spawn(verb, "--config", config, db=p.db) for verb in ("serve", "watch")]
    errors = []
    try:

        def delivered() -> bool:
            assert all(proc.running() for proc in procs)
            rows = _outbox(p)
            return len(rows) == 2 and all(r.state == "delivered" for r in rows)

        wait_for(delivered, 60, "the notification delivered on both channels")
    finally:
        errors = [proc.stop() for proc in procs]
    assert "tlsrpt serve: watching registered domains every 6h" in errors[0]
    assert [h["alert"]["rule"] for h in p.hooks()] == ["mx-certificate-expiring"]
    assert len(p.mails()) == 1
    assert {(r.state, r.attempts) for r in _outbox(p)} == {("delivered", 1)}
    assert _count(p.db, "watch_snapshots") == 1
