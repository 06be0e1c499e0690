"""The MTA pipe's core (`tlsrpt.receive.pipe`), in process: what
`tlsrpt ingest-mail` maps to exit codes (its end-to-end tests are in
test_receive_ingest_mail.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tlsrpt.receive.pipe import TryLater, deliver, nameserver_lookup


def test_a_message_without_a_signature_is_held_unless_accepted(
    tmp_path: Path, kit: Any, dns_server: Any
) -> None:
    db = f"sqlite:///{tmp_path / 'pipe.sqlite3'}"
    lookup = nameserver_lookup(f"127.0.0.1:{dns_server.port}")
    held = deliver(db, kit.report_mail(), lookup)
    assert (held.result.outcome, held.result.reason_code) == ("quarantined", "held")
    assert held.verdict.result == "none"
    released = deliver(db, kit.report_mail(), lookup, accept_unsigned=True)
    # the same bytes, held before: released, recorded (no report in it: quarantined)
    assert released.result.raw_id == held.result.raw_id
    assert released.result.released_unsigned


def test_try_later_when_the_key_lookup_or_the_store_fails(
    tmp_path: Path, kit: Any, dns_server: Any, key: tuple[bytes, str]
) -> None:
    kit.publish(dns_server, "mail.ru", key[1])
    signed = kit.signed(kit.report_mail(), key[0], "mail.ru")
    lookup = nameserver_lookup(f"127.0.0.1:{dns_server.port}")
    with pytest.raises(TryLater, match="cannot open database"):
        deliver("sqlite:////nonexistent-dir/sub/pipe.sqlite3", signed, lookup)
    dns_server.servfail.add("mail._domainkey.mail.ru.")
    with pytest.raises(TryLater, match="DNS"):
        deliver(f"sqlite:///{tmp_path / 'pipe.sqlite3'}", signed, lookup)
    assert not (tmp_path / "pipe.sqlite3").exists()  # nothing stored: the MTA retries


@pytest.mark.parametrize("spec", ["127.0.0.1:0", ":53", "127.0.0.1:x", "[::1]:99999"])
def test_a_nameserver_that_cannot_be_is_named(spec: str) -> None:
    with pytest.raises(ValueError, match="expected HOST or HOST:PORT"):
        nameserver_lookup(spec)
