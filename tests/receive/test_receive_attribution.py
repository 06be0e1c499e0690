"""A Postfix/sys4 tlsrpt-reporter report, mailed to the recipient domain's
rua (RFC 8460 §5.3), arrives over SMTP (DKIM-signed, loopback DNS) and
through the MTA pipe (`tlsrpt ingest-mail`): its DANE and no-policy-found
sessions are filed under the TLS-Report-Domain, not under the MX host or
under no domain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.schema import policy_results

from .test_receive_smtp import run_smtp, send

RECIPIENT = "example.org"  # a recipient domain the SMTP test receiver accepts reports for


def postfix_message(postfix: Any, report_id: str) -> bytes:
    message: bytes = postfix.mail(RECIPIENT, postfix.report(report_id))
    return message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def attributed(store: Store) -> list[tuple[Any, ...]]:
    p = policy_results
    with store.read() as conn:
        query = sa.select(p.c.policy_type, p.c.policy_domain, p.c.domain, p.c.attribution)
        return [tuple(r) for r in conn.execute(query.order_by(p.c.report_pk, p.c.ordinal))]


EXPECTED = [
    ("tlsa", "mx1.provider.example", RECIPIENT, "report-domain-header"),
    ("no-policy-found", None, RECIPIENT, "report-domain-header"),
]


def test_smtp(
    store: Store, kit: Any, dns_server: Any, key: tuple[bytes, str], postfix: Any
) -> None:
    kit.publish(dns_server, "mail.sender.example", key[1])
    smtp = run_smtp(store, kit.lookup(dns_server))
    try:
        message = kit.signed(postfix_message(postfix, "smtp-1"), key[0], "mail.sender.example")
        assert send(smtp, message) == (250, b"")
    finally:
        smtp.stop()
    assert attributed(store) == EXPECTED


def test_mta_pipe(tmp_path: Path, postfix: Any) -> None:
    db = f"sqlite:///{tmp_path / 'pipe.sqlite3'}"
    done = subprocess.run(
        [sys.executable, "-m", "tlsrpt", "ingest-mail", "--db", db, "--accept-unsigned"],
        input=postfix_message(postfix, "pipe-1"),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with open_store(db) as store:
        assert attributed(store) == EXPECTED
