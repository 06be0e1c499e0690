"""IMAP poller end to end against a real Dovecot (Debian `dovecot-imapd`)
on 127.0.0.1, with a trustme certificate, DKIM keys from a loopback DNS
server (RFC 8460 §3; docs/conformance.md#dkim-required) and a SQLite store; PostgreSQL for the
two-instance test (TLSRPT_TEST_POSTGRES_URL)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import imapclient
import pytest
import sqlalchemy as sa
import trustme

from tlsrpt.receive.imap import ImapConfig, ImapPoller, lock_key, start
from tlsrpt.report import parse_report
from tlsrpt.report.compose import compose_message
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.schema import imap_watermarks, raw_inputs, reports

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None
)
USER, PASSWORD = "reports", "s3cret-imap"
REPORT_JSON = (
    '{"organization-name": "Mail.ru", "date-range": {"start-datetime": "2026-11-03T00:00:00Z", '
    '"end-datetime": "2026-11-03T23:59:59Z"}, "contact-info": "tlsrpt@mail.ru", '
    '"report-id": "%s", "policies": [{"policy": {"policy-type": "no-policy-found", '
    '"policy-domain": "example.org"}, "summary": {"total-successful-session-count": 5, '
    '"total-failure-session-count": 0}}]}'
)


def free_ports(n: int) -> list[int]:
    """`n` distinct free loopback ports (all bound at once, so never equal)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_http(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Until `tlsrpt serve` answers: its SIGTERM handling is in place then."""
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.communicate()[1].decode()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "tlsrpt serve did not come up"
            time.sleep(0.1)


@dataclass
class Dovecot:
    """A Dovecot instance of the test's own, on loopback ports."""

    conf: Path
    imaps_port: int
    imap_port: int
    ca_file: str

    def config(self, **options: Any) -> ImapConfig:
        base = ImapConfig(
            host="127.0.0.1",
            user=USER,
            password=PASSWORD,
            port=self.imaps_port,
            ca_file=self.ca_file,
            poll_interval_s=30,
        )
        if options.get("tls") == "starttls":
            options.setdefault("port", self.imap_port)
        return replace(base, **options)

    def client(self) -> imapclient.IMAPClient:
        context = ssl.create_default_context(cafile=self.ca_file)
        client = imapclient.IMAPClient("127.0.0.1", port=self.imaps_port, ssl_context=context)
        client.login(USER, PASSWORD)
        return client

    def append(self, *messages: bytes, folder: str = "INBOX") -> None:
        with self.client() as c:
            for message in messages:
                c.append(folder, message)

    def count(self, folder: str) -> int:
        with self.client() as c:
            if not c.folder_exists(folder):
                return 0
            return int(c.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def kick(self) -> None:
        """Drop every IMAP session of the user, server side."""
        subprocess.run(
            ["doveadm", "-c", str(self.conf), "kick", USER], check=True, capture_output=True
        )


def _dovecot_conf(run: Path, mail: Path, ports: tuple[int, int], capability: str | None) -> str:
    me = pwd.getpwuid(os.getuid()).pw_name
    root = os.getuid() == 0
    cap = f"imap_capability = {capability}\n" if capability else ""
    return f"""
base_dir = {run}/run
state_dir = {run}/state
log_path = {run}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{run}/server.pem
ssl_key = <{run}/server.pem
default_login_user = {"dovenull" if root else me}
default_internal_user = {"dovecot" if root else me}
default_internal_group = {"dovecot" if root else me}
first_valid_uid = 1
mail_location = maildir:{mail}/%u
auth_mechanisms = plain
disable_plaintext_auth = no
{cap}passdb {{
  driver = passwd-file
  args = scheme=PLAIN {run}/passwd
}}
userdb {{
  driver = passwd-file
  args = {run}/passwd
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {ports[1]}
  }}
  inet_listener imaps {{
    port = {ports[0]}
  }}
}}
protocol imap {{
  mail_max_userip_connections = 500
}}
service anvil {{
  chroot =
}}
"""


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(100):
        if proc.poll() is not None:
            text = log.read_text() if log.exists() else ""
            pytest.fail(
                f"dovecot exited: {proc.stderr.read().decode() if proc.stderr else ''}{text}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("dovecot did not start listening")


def run_dovecot(capability: str | None = None) -> Iterator[Dovecot]:
    if DOVECOT is None:
        pytest.skip("the IMAP tests need Dovecot: apt-get install dovecot-imapd")
    # Outside tmp_path: as root, Dovecot's auth and mail processes run as
    # the `dovecot` user, which cannot enter root's private pytest directory.
    run = Path(tempfile.mkdtemp(prefix="tlsrpt-dovecot-"))
    run.chmod(0o755)
    mail = run / "mail"
    mail.mkdir()
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
        str(run / "server.pem")
    )
    ca.cert_pem.write_to_path(str(run / "ca.pem"))
    if os.getuid() == 0:
        owner = pwd.getpwnam("dovecot")
        os.chown(mail, owner.pw_uid, owner.pw_gid)
        uid, gid = owner.pw_uid, owner.pw_gid
    else:
        uid, gid = os.getuid(), os.getgid()
    (run / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{mail}/home::\n")
    imaps_port, imap_port = free_ports(2)
    ports = (imaps_port, imap_port)
    conf = run / "dovecot.conf"
    conf.write_text(_dovecot_conf(run, mail, ports, capability))
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        _wait_port(ports[0], proc, run / "dovecot.log")
        yield Dovecot(conf, ports[0], ports[1], str(run / "ca.pem"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(run, ignore_errors=True)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    yield from run_dovecot()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'imap.sqlite3'}") as s:
        yield s


@pytest.fixture
def mails(kit: SimpleNamespace, key: tuple[bytes, str], dns_server: Any) -> SimpleNamespace:
    """Report mails from mail.ru, DKIM-signed with a key the DNS server publishes."""
    pem, pub = key
    kit.publish(dns_server, "mail.ru", pub)

    def report(report_id: str, sign: bool = True) -> bytes:
        msg = compose_message(
            parse_report((REPORT_JSON % report_id).encode()).report,
            submitter="mail.ru",
            from_address="tlsrpt@mail.ru",
            to_address="tlsrpt@example.org",
        )
        data = msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return kit.signed(data, pem, "mail.ru") if sign else data

    return SimpleNamespace(report=report, dnsfunc=kit.lookup(dns_server))


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the poller")
        time.sleep(0.1)


@dataclass
class Running:
    poller: ImapPoller
    thread: threading.Thread

    def stop(self) -> None:
        self.poller.stop()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


def run_poller(store: Store, config: ImapConfig, dnsfunc: Any) -> Running:
    poller = ImapPoller(store, config, dnsfunc)
    return Running(poller, start(poller))


def outcomes(store: Store) -> list[tuple[str, str]]:
    with store.read() as conn:
        rows = conn.execute(sa.select(raw_inputs.c.outcome, raw_inputs.c.source_kind))
        return sorted((r.outcome, r.source_kind) for r in rows)


def report_count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one())


def test_new_message_is_ingested_and_moved_to_the_archive(
    dovecot: Dovecot, store: Store, mails: SimpleNamespace
) -> None:
    dovecot.append(mails.report("r-1"))
    running = run_poller(store, dovecot.config(), mails.dnsfunc)
    try:
        wait_for(lambda: dovecot.count("Archive") == 1)
        dovecot.append(mails.report("r-2"))  # arrives while the poller IDLEs
        wait_for(lambda: dovecot.count("Archive") == 2)
    finally:
        running.stop()
    assert dovecot.count("INBOX") == 0
    assert outcomes(store) == [("accepted", "imap"), ("accepted", "imap")]
    assert report_count(store) == 2
    with store.read() as conn:
        meta = conn.execute(sa.select(raw_inputs.c.source_meta)).scalars().all()
    # RFC 8460 §3; docs/conformance.md#dkim-required verdict kept
    assert all('"dkim":"pass"' in m for m in meta)


def test_unsigned_or_unreadable_message_goes_to_the_invalid_folder(
    dovecot: Dovecot, store: Store, mails: SimpleNamespace
) -> None:
    """RFC 8460 §3; docs/conformance.md#dkim-required: no DKIM signature -> quarantined, not
    counted; same for a message without a report."""
    dovecot.append(mails.report("r-1", sign=False), b"Subject: hello\r\n\r\nnot a report\r\n")
    running = run_poller(store, dovecot.config(invalid_folder="Quarantined reports"), mails.dnsfunc)
    try:
        wait_for(lambda: dovecot.count("Quarantined reports") == 2)
    finally:
        running.stop()
    assert dovecot.count("INBOX") == 0
    assert dovecot.count("Archive") == 0
    assert outcomes(store) == [("quarantined", "imap"), ("quarantined", "imap")]
    assert report_count(store) == 0


def test_duplicate_message_is_not_counted_twice(
    dovecot: Dovecot, store: Store, mails: SimpleNamespace
) -> None:
    """RFC 8460 §5.3; docs/conformance.md#de-duplication: the same message delivered twice is stored
    once."""
    message = mails.report("r-1")
    dovecot.append(message, message)
    running = run_poller(store, dovecot.config(), mails.dnsfunc)
    try:
        wait_for(lambda: dovecot.count("Archive") == 2)
    finally:
        running.stop()
    assert running.poller.counts == {"accepted": 1, "duplicate": 1}
    assert report_count(store) == 1


def test_read_only_watermark_survives_a_restart(
    dovecot: Dovecot, store: Store, mails: SimpleNamespace
) -> None:
    config = dovecot.config(mode="read-only", tls="starttls")
    dovecot.append(mails.report("r-1"), mails.report("r-2"))
    first = run_poller(store, config, mails.dnsfunc)
    try:
        wait_for(lambda: first.poller.counts.total() == 2)
    finally:
        first.stop()
    dovecot.append(mails.report("r-3"))
    second = run_poller(store, config, mails.dnsfunc)
    try:
        wait_for(lambda: second.poller.counts.total() == 1)
        time.sleep(0.5)  # time to (wrongly) read old messages again
    finally:
        second.stop()
    assert second.poller.counts == {"accepted": 1}  # only the new message
    assert dovecot.count("INBOX") == 3  # nothing moved or deleted
    assert report_count(store) == 3
    with store.read() as conn:
        row = conn.execute(sa.select(imap_watermarks)).one()
    assert row.mailbox == config.mailbox
    assert row.last_uid == 3


def test_dropped_connection_mid_run_loses_and_double_counts_nothing(
    dovecot: Dovecot, store: Store, mails: SimpleNamespace
) -> None:
    """The server drops the session after the first message is ingested and
    before it is moved: the poller reconnects, finds it again (a duplicate
    by its bytes) and moves every message once."""
    kicked = threading.Event()

    def dnsfunc(name: Any, timeout: float = 5.0) -> bytes | None:
        if kicked.is_set() is False and len(calls) == 1:
            kicked.set()
            dovecot.kick()
            time.sleep(0.3)  # the session is gone before the message is moved
        calls.append(name)
        return mails.dnsfunc(name, timeout)  # type: ignore[no-any-return]

    calls: list[Any] = []
    dovecot.append(*(mails.report(f"r-{i}") for i in range(3)))
    running = run_poller(store, dovecot.config(), dnsfunc)
    try:
        wait_for(lambda: dovecot.count("Archive") == 3)
    finally:
        running.stop()
    assert kicked.is_set()
    assert dovecot.count("INBOX") == 0
    assert report_count(store) == 3
    # Message 2 was ingested, its move failed, it was read again: a duplicate.
    assert running.poller.counts == {"accepted": 3, "duplicate": 1}


@pytest.fixture
def dovecot_without_idle_or_move() -> Iterator[Dovecot]:
    yield from run_dovecot(capability="IMAP4rev1 LITERAL+ UIDPLUS")


def test_polls_and_copies_when_the_server_has_neither_idle_nor_move(
    dovecot_without_idle_or_move: Dovecot, store: Store, mails: SimpleNamespace
) -> None:
    server = dovecot_without_idle_or_move
    server.append(mails.report("r-1"))
    running = run_poller(store, server.config(poll_interval_s=0.2), mails.dnsfunc)
    try:
        wait_for(lambda: server.count("Archive") == 1)
        server.append(mails.report("r-2"))
        wait_for(lambda: server.count("Archive") == 2)
    finally:
        running.stop()
    assert server.count("INBOX") == 0
    assert report_count(store) == 2


def test_a_wrong_password_is_retried_without_crashing(
    dovecot: Dovecot, store: Store, mails: SimpleNamespace
) -> None:
    running = run_poller(store, dovecot.config(password="wrong"), mails.dnsfunc)
    time.sleep(0.5)
    assert running.thread.is_alive()
    running.stop()
    assert outcomes(store) == []


# -- scale-out: two pollers, one PostgreSQL database, one mailbox -----------


@pytest.mark.postgres
def test_two_instances_on_one_postgres_poll_a_mailbox_one_at_a_time(
    dovecot: Dovecot, postgres_url: str, mails: SimpleNamespace
) -> None:
    stores = [open_store(postgres_url), open_store(postgres_url)]
    config = dovecot.config(poll_interval_s=0.3)
    instances = [run_poller(s, config, mails.dnsfunc) for s in stores]
    overlap: list[int] = []
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            if sum(i.poller.polling.is_set() for i in instances) > 1:
                overlap.append(1)
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        wait_for(lambda: any(i.poller.polling.is_set() for i in instances))
        dovecot.append(*(mails.report(f"r-{i}") for i in range(6)))
        wait_for(lambda: dovecot.count("Archive") == 6)
        holder = next(i for i in instances if i.poller.polling.is_set())
        other = next(i for i in instances if i is not holder)
        assert other.poller.counts.total() == 0
        holder.stop()  # the other instance takes the mailbox over
        wait_for(lambda: other.poller.polling.is_set())
        dovecot.append(mails.report("r-6"), mails.report("r-0"))
        wait_for(lambda: dovecot.count("Archive") == 8)
        other.stop()
    finally:
        watching.set()
        watcher.join()
        for i in instances:
            i.stop()
        for s in stores:
            s.close()
    assert not overlap
    assert holder.poller.counts == {"accepted": 6}
    assert other.poller.counts == {"accepted": 1, "duplicate": 1}
    with open_store(postgres_url) as s:
        assert report_count(s) == 7


# -- tlsrpt serve -------------------------------------------------------------


def _serve(config: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "tlsrpt", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**clean, **env},
    )


def test_serve_starts_the_poller_and_stops_cleanly(
    tmp_path: Path, dovecot: Dovecot, mails: SimpleNamespace, dns_server: Any
) -> None:
    db = tmp_path / "serve-imap.sqlite3"
    secret = tmp_path / "imap-password"
    secret.write_text(PASSWORD + "\n")
    (http_port,) = free_ports(1)
    config = tmp_path / "tlsrpt.toml"
    config.write_text(
        f'database_url = "sqlite:///{db}"\nport = {http_port}\n'
        f'imap_host = "127.0.0.1"\nimap_port = {dovecot.imap_port}\nimap_tls = "starttls"\n'
        f'imap_user = "{USER}"\nimap_ca_file = "{dovecot.ca_file}"\n'
        f'imap_archive_folder = "Done"\n'
        f'dns_nameservers = ["127.0.0.1"]\ndns_port = {dns_server.port}\n'
    )
    dovecot.append(mails.report("r-1"))
    proc = _serve(config, {"TLSRPT_IMAP_PASSWORD_FILE": str(secret)})
    try:
        wait_http(http_port, proc)
        wait_for(lambda: proc.poll() is not None or dovecot.count("Done") == 1, timeout=30)
        assert proc.poll() is None, proc.communicate()[1].decode()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    assert f"IMAP {USER}@127.0.0.1:{dovecot.imap_port}/INBOX (move)".encode() in err
    with open_store(f"sqlite:///{db}") as store:
        assert outcomes(store) == [("accepted", "imap")]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ('imap_host = "127.0.0.1"\nimap_password = "x"\n', "imap_host needs imap_user"),
        ('imap_host = "127.0.0.1"\nimap_user = "u"\n', "needs imap_password"),
        (
            'imap_host = "127.0.0.1"\nimap_user = "u"\nimap_password = "x"\nimap_mode = "copy"\n',
            "IMAP mode 'copy' is not one of move, read-only",
        ),
        (
            'imap_host = "h"\nimap_user = "u"\nimap_password_file = "/nonexistent/pw"\n',
            "imap_password_file /nonexistent/pw: No such file",
        ),
    ],
)
def test_serve_refuses_incomplete_imap_settings(
    tmp_path: Path, settings: str, message: str
) -> None:
    config = tmp_path / "tlsrpt.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "x.sqlite3"}"\n{settings}')
    proc = _serve(config, {})
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert message in err.decode()
    assert b"Traceback" not in err


@pytest.mark.postgres
def test_losing_the_lock_connection_hands_the_mailbox_over(
    dovecot: Dovecot, postgres_url: str, mails: SimpleNamespace
) -> None:
    """The holder's database session is killed (a network cut, a failover):
    PostgreSQL frees its advisory lock, the other instance takes the
    mailbox, the first notices within LOCK_CHECK_S and stops polling."""
    stores = [open_store(postgres_url), open_store(postgres_url)]
    config = dovecot.config(poll_interval_s=0.3)
    instances = [run_poller(s, config, mails.dnsfunc) for s in stores]
    try:
        wait_for(lambda: any(i.poller.polling.is_set() for i in instances))
        holder = next(i for i in instances if i.poller.polling.is_set())
        other = next(i for i in instances if i is not holder)
        key = lock_key(config.mailbox)
        with stores[0].engine.connect() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND granted AND classid = :hi AND objid = :lo"
                ),
                {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
            ).all()
            conn.commit()
        assert killed == [(True,)]
        wait_for(lambda: other.poller.polling.is_set() and not holder.poller.polling.is_set())
        dovecot.append(*(mails.report(f"r-{i}") for i in range(3)))
        wait_for(lambda: dovecot.count("Archive") == 3)
    finally:
        for i in instances:
            i.stop()
        for s in stores:
            s.close()
    assert other.poller.counts == {"accepted": 3}
    assert holder.poller.counts.total() == 0


def test_a_message_over_the_size_limit_is_not_read(
    dovecot: Dovecot, store: Store, mails: SimpleNamespace
) -> None:
    big = mails.report("r-big") + b"x" * 4000 + b"\r\n"
    dovecot.append(big, mails.report("r-1"))
    running = run_poller(store, dovecot.config(max_message_bytes=3000), mails.dnsfunc)
    try:
        wait_for(lambda: dovecot.count("Invalid") == 1 and dovecot.count("Archive") == 1)
    finally:
        running.stop()
    assert running.poller.counts == {"too-large": 1, "accepted": 1}
    assert outcomes(store) == [("accepted", "imap")]  # the large one was never stored


def test_read_only_reads_again_when_uidvalidity_changes(
    dovecot: Dovecot, store: Store, mails: SimpleNamespace
) -> None:
    """RFC 9051 §2.3.1.1: a new UIDVALIDITY voids the watermark; what was
    stored already is a duplicate, the rest is read."""
    old = [mails.report("r-1"), mails.report("r-2")]
    with dovecot.client() as c:
        c.create_folder("Reports")
    dovecot.append(*old, folder="Reports")
    config = dovecot.config(mode="read-only", folder="Reports")
    first = run_poller(store, config, mails.dnsfunc)
    try:
        wait_for(lambda: first.poller.counts.total() == 2)
    finally:
        first.stop()
    with dovecot.client() as c:  # the folder is recreated: new UIDVALIDITY
        c.delete_folder("Reports")
        c.create_folder("Reports")
    dovecot.append(*old, mails.report("r-3"), folder="Reports")
    second = run_poller(store, config, mails.dnsfunc)
    try:
        wait_for(lambda: second.poller.counts.total() == 3)
    finally:
        second.stop()
    assert second.poller.counts == {"duplicate": 2, "accepted": 1}
    assert report_count(store) == 3


def test_dkim_dns_failure_leaves_the_message_for_a_later_round(
    dovecot: Dovecot,
    store: Store,
    mails: SimpleNamespace,
    dns_server: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A key lookup that failed for a reason that may pass (SERVFAIL) is not
    a verdict: the message stays in the folder and is read again."""
    dns_server.servfail.add("mail._domainkey.mail.ru.")
    dovecot.append(mails.report("r-1"))
    running = run_poller(store, dovecot.config(poll_interval_s=0.3), mails.dnsfunc)
    try:
        wait_for(lambda: "DKIM lookup failed, trying later" in caplog.text)
        time.sleep(0.7)  # at least one more round
        assert outcomes(store) == []
        assert dovecot.count("INBOX") == 1
        dns_server.servfail.clear()
        wait_for(lambda: dovecot.count("Archive") == 1)
    finally:
        running.stop()
    assert outcomes(store) == [("accepted", "imap")]


def test_dkim_dns_failure_that_persists_is_quarantined_after_the_retry_time(
    dovecot: Dovecot, store: Store, mails: SimpleNamespace, dns_server: Any
) -> None:
    """Read-only mode: a message whose signer's DNS stays broken is retried
    for dkim_retry_s, then quarantined with the reason, so the watermark
    moves on and the next message is read (RFC 8460 §3; docs/conformance.md#dkim-required: kept, not
    counted)."""
    dns_server.servfail.add("mail._domainkey.mail.ru.")
    with dovecot.client() as c:
        c.create_folder("Reports")
    dovecot.append(mails.report("r-1"), folder="Reports")
    config = dovecot.config(
        mode="read-only", folder="Reports", poll_interval_s=0.2, dkim_retry_s=1.5
    )
    running = run_poller(store, config, mails.dnsfunc)
    try:
        time.sleep(0.8)
        assert outcomes(store) == []  # still within the retry time
        wait_for(lambda: running.poller.counts["quarantined"] == 1)
        dns_server.servfail.clear()
        dovecot.append(mails.report("r-2"), folder="Reports")
        wait_for(lambda: running.poller.counts["accepted"] == 1)
    finally:
        running.stop()
    assert outcomes(store) == [("accepted", "imap"), ("quarantined", "imap")]
    assert report_count(store) == 1
    with store.read() as conn:
        reason = conn.execute(
            sa.select(raw_inputs.c.reason).where(raw_inputs.c.outcome == "quarantined")
        ).scalar_one()
    assert "DKIM key lookup kept failing" in reason
    assert dovecot.count("Reports") == 2  # read-only: nothing moved


def _config_mailbox(dovecot: Dovecot) -> str:
    return f"{USER}@127.0.0.1:{dovecot.imaps_port}/INBOX"


def lock_holders(url: str, key: int) -> int:
    """Sessions holding the advisory lock `key` (one per polling instance)."""
    with open_store(url) as store, store.read() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :hi AND objid = :lo"
                ),
                {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
            ).scalar_one()
        )


@pytest.mark.postgres
def test_two_serve_processes_on_one_postgres_count_each_message_once(
    tmp_path: Path, dovecot: Dovecot, postgres_url: str, mails: SimpleNamespace, dns_server: Any
) -> None:
    """Scale-out: two `tlsrpt serve` instances, one database, one
    mailbox; one polls, nothing is counted twice."""
    with open_store(postgres_url):
        pass  # migrate once, before the two instances start
    procs = []
    http_ports = free_ports(2)
    for n in range(2):
        config = tmp_path / f"tlsrpt-{n}.toml"
        config.write_text(
            f'database_url = "{postgres_url}"\nport = {http_ports[n]}\n'
            f'imap_host = "127.0.0.1"\nimap_port = {dovecot.imaps_port}\n'
            f'imap_user = "{USER}"\nimap_password = "{PASSWORD}"\n'
            f'imap_ca_file = "{dovecot.ca_file}"\nimap_poll_interval_s = 1\n'
            f'dns_nameservers = ["127.0.0.1"]\ndns_port = {dns_server.port}\n'
        )
        procs.append(_serve(config, {}))
    errs: list[str] = []
    try:
        for port, proc in zip(http_ports, procs, strict=True):
            wait_http(port, proc)
        dovecot.append(*(mails.report(f"r-{i}") for i in range(6)))
        wait_for(lambda: dovecot.count("Archive") == 6, timeout=60)
        assert lock_holders(postgres_url, lock_key(_config_mailbox(dovecot))) == 1
        for proc in procs:
            assert proc.poll() is None, proc.communicate()[1].decode()
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            errs.append(err.decode())
            assert proc.returncode == 0, err.decode()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert any("INBOX: polling (move" in e for e in errs), errs
    with open_store(postgres_url) as store:
        assert outcomes(store) == [("accepted", "imap")] * 6
        assert report_count(store) == 6
