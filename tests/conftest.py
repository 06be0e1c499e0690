"""Fixtures shared by every test area."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.pgschema import temporary_schema

# Tests contact loopback only. The dashboard looks up the PTR names of
# sending IPs, by default through the system's resolver, which is not on
# loopback: `tlsrpt serve` processes the tests start read this variable,
# and an app built in process gets no lookups through the system resolver
# (`_no_system_resolver`); a test that wants lookups names a loopback
# nameserver.
os.environ["TLSRPT_REVERSE_DNS"] = "false"

POSTGRES_ENV = "TLSRPT_TEST_POSTGRES_URL"
POSTGRES_SKIP = (
    f"PostgreSQL tests need {POSTGRES_ENV}, e.g. "
    f"{POSTGRES_ENV}=postgresql://postgres@127.0.0.1:5432/test (scripts/test sets it)"
)


@pytest.fixture(scope="session")
def postgres_base() -> str:
    """The test server's URL; skips the test, saying how, when there is none."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(POSTGRES_SKIP)
    return url


@pytest.fixture
def postgres_url(postgres_base: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema."""
    with temporary_schema(postgres_base, "tlsrpt_test") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, on each backend (PostgreSQL: a fresh
    schema, dropped afterwards)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tlsrpt.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """The database of `db_url`, migrated, open for the test."""
    opened = open_store(db_url)
    try:
        yield opened
    finally:
        opened.close()


# Reports of two customers, some naming both: what the API and dashboard
# tenant-isolation tests read (tests/web/api, tests/web/dashboard).
TENANT_PASSWORD = "correct horse battery"


def _policy(
    domain: str | None, ok: int, failed: int, mx: str, ip: str, info: str
) -> dict[str, object]:
    policy: dict[str, object] = {"policy-type": "sts", "policy-string": [f"mode: enforce {mx}"]}
    if domain is not None:
        policy["policy-domain"] = domain
        policy["mx-host"] = [mx]
    else:
        policy["policy-type"] = "no-policy-found"
    details = [
        {
            "result-type": "certificate-expired",
            "sending-mta-ip": ip,
            "receiving-mx-hostname": mx,
            "failed-session-count": failed,
            "additional-information": info,
        }
    ]
    summary = {"total-successful-session-count": ok, "total-failure-session-count": failed}
    return {"policy": policy, "summary": summary, "failure-details": details if failed else []}


# Each domain's words (name, MX, sending IP, information) appear in no
# other domain's policy, so a page can be searched for them.
ALPHA = ("alpha.example", 100, 5, "mx1.alpha.example", "192.0.2.1", "alpha-3333-info")
BETA = ("beta.example", 200, 7, "mx.beta.example", "198.51.100.7", "beta-4444-info")


def tenant_report(day: date, report_id: str, *policies: tuple[Any, ...]) -> bytes:
    import orjson

    return orjson.dumps(
        {
            "organization-name": "Shared Reporter",
            "date-range": {
                "start-datetime": f"{day}T00:00:00Z",
                "end-datetime": f"{day}T23:59:59Z",
            },
            "contact-info": "tlsrpt@reporter.example",
            "report-id": report_id,
            "policies": [_policy(*p) for p in policies],
        }
    )


def tenant_mail(header_domain: str, *attachments: bytes) -> bytes:
    """A multipart/report message with each report as an attachment (an
    attachment that is not JSON is a part that cannot be stored)."""
    parts = [
        (data, "tlsrpt+json", f"reporter.example!{header_domain}!0!1!{index}.json")
        for index, data in enumerate(attachments)
    ]
    return report_mail(header_domain, "reporter.example", "tlsrpt@reporter.example", parts)


def report_mail(
    header_domain: str, submitter: str, sender: str, parts: list[tuple[bytes, str, str]]
) -> bytes:
    """A multipart/report message (RFC 8460 §5.3) with TLS-Report-Domain and
    TLS-Report-Submitter, and each (bytes, media subtype, file name) part
    as an attachment."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = f"tlsrpt@{header_domain}"
    msg["Subject"] = f"Report Domain: {header_domain} Submitter: {submitter}"
    msg["TLS-Report-Domain"] = header_domain
    msg["TLS-Report-Submitter"] = submitter
    msg.set_content(f"TLS reports from {submitter}\n")
    for data, subtype, name in parts:
        msg.add_attachment(data, maintype="application", subtype=subtype, filename=name)
    msg.replace_header("Content-Type", "multipart/report")
    msg.set_param("report-type", "tlsrpt")
    return msg.as_bytes()


@dataclass
class Tenants:
    """Users (e-mail -> API token) and report keys of `tenant_store`."""

    day: date
    tokens: dict[str, str]
    mixed: int  # policies of alpha.example and beta.example, in one JSON
    alpha_only: int
    beta_only: int
    mail_alpha: int  # one e-mail, two reports: alpha's ...
    mail_beta: int  # ... and beta's (its header names beta.example)
    first_alpha: int  # alpha's report, found again in an e-mail with ...
    again_beta: int  # ... beta's report
    again_raw: int  # that e-mail
    noted_alpha: int  # alpha's report in an e-mail with a part not stored
    conflict_alpha: int  # alpha's report in an e-mail with another version of
    conflict_raw: int  # first_alpha that also names beta.example (not stored)
    no_domain: int  # a policy without domain only

    ADMIN = "admin@operator.example"
    A = "owner@customer-a.example"  # alpha.example
    B = "owner@customer-b.example"  # beta.example
    AB = "owner@customer-ab.example"  # both


def fill_tenant_store(store: Store, day: date) -> Tenants:
    from tlsrpt.ingest.model import SourceInfo
    from tlsrpt.ingest.pipeline import ingest
    from tlsrpt.store.users import add_domain, add_user, create_token

    def one(data: bytes, source: SourceInfo) -> tuple[int, ...]:
        result = ingest(store, data, source)
        assert result.outcome in ("accepted", "duplicate"), result.reason
        return result.report_ids

    def file(name: str) -> SourceInfo:
        return SourceInfo("file", f"/spool/{name}")

    smtp = SourceInfo("smtp", "127.0.0.1 from <tlsrpt@reporter.example> to <tlsrpt@beta.example>")
    (mixed,) = one(tenant_report(day, "mixed", ALPHA, BETA), file("beta.example-mixed.json"))
    (alpha_only,) = one(tenant_report(day, "alpha-only", ALPHA), file("alpha.json"))
    (beta_only,) = one(tenant_report(day, "beta-only", BETA), file("beta.example.json"))
    mail_beta, mail_alpha = one(
        tenant_mail(
            "beta.example",
            tenant_report(day, "mail-beta", BETA),
            tenant_report(day, "mail-alpha", ALPHA),
        ),
        smtp,
    )
    first = tenant_report(day, "first-alpha", ALPHA)
    (first_alpha,) = one(first, file("first-alpha.json"))
    again = ingest(
        store, tenant_mail("beta.example", tenant_report(day, "again-beta", BETA), first), smtp
    )
    assert again.outcome == "accepted", again.reason
    assert again.report_ids[1] == first_alpha
    (noted_alpha,) = one(
        tenant_mail("alpha.example", tenant_report(day, "noted-alpha", ALPHA), b"{not json"),
        SourceInfo("smtp", "127.0.0.1 to <tlsrpt@alpha.example>"),
    )
    conflicting = ingest(
        store,
        tenant_mail(
            "alpha.example",
            tenant_report(day, "conflict-alpha", ALPHA),
            tenant_report(day, "first-alpha", ALPHA, BETA),  # same key, other content
        ),
        SourceInfo("smtp", "127.0.0.1 to <tlsrpt@alpha.example>"),
    )
    assert conflicting.outcome == "accepted" and conflicting.conflict
    assert conflicting.report_ids[1] == first_alpha
    (no_domain,) = one(
        tenant_report(day, "no-domain", (None, 2, 0, "", "", "")), file("no-domain.json")
    )
    tokens = {}
    with store.write() as conn:
        add_user(conn, Tenants.ADMIN, TENANT_PASSWORD, admin=True)
        for email, owned in (
            (Tenants.A, ["alpha.example"]),
            (Tenants.B, ["beta.example"]),
            (Tenants.AB, ["alpha.example", "beta.example"]),
        ):
            add_user(conn, email, TENANT_PASSWORD, admin=False)
            for name in owned:
                add_domain(conn, name, email)
        for email in (Tenants.ADMIN, Tenants.A, Tenants.B, Tenants.AB):
            tokens[email] = create_token(conn, email)
    return Tenants(
        day,
        tokens,
        mixed,
        alpha_only,
        beta_only,
        mail_alpha,
        mail_beta,
        first_alpha,
        again.report_ids[0],
        again.raw_id,
        noted_alpha,
        conflicting.report_ids[0],
        conflicting.raw_id,
        no_domain,
    )


@pytest.fixture(scope="session")
def tenant_store_builder() -> Callable[[Store, date], Tenants]:
    """`fill_tenant_store` for test modules (they cannot import conftest)."""
    return fill_tenant_store


# A Postfix / sys4 tlsrpt-reporter report (tests/fixtures/reports/
# postfix-dane-mx-host.json): its tlsa policy names the MX host, its
# no-policy-found one names nothing; mailed with TLS-Report-Domain naming
# the recipient domain (what the attribution tests file it under).
POSTFIX_FIXTURE = Path(__file__).parent / "fixtures" / "reports" / "postfix-dane-mx-host.json"


def postfix_report(
    report_id: str, dane_host: str = "mx1.provider.example", day: date | None = None
) -> bytes:
    """The fixture with its id, its DANE host and (when given) its day."""
    import orjson

    doc = orjson.loads(POSTFIX_FIXTURE.read_bytes())
    doc["report-id"] = report_id
    doc["policies"][0]["policy"]["policy-domain"] = dane_host
    if day is not None:
        doc["date-range"] = {
            "start-datetime": f"{day}T00:00:00Z",
            "end-datetime": f"{day}T23:59:59Z",
        }
    return orjson.dumps(doc)


def postfix_mail(header_domain: str, *reports: bytes) -> bytes:
    """What tlsrpt-reporter mails to the recipient domain's rua (RFC 8460
    §5.3), each report gzipped as an attachment."""
    import gzip

    sender = "mail.sender.example"
    parts = [
        (gzip.compress(report), "tlsrpt+gzip", f"{sender}!{header_domain}!0!1!{n}.json.gz")
        for n, report in enumerate(reports)
    ]
    return report_mail(header_domain, sender, f"noreply@{sender}", parts)


def register_with_mx(
    store: Store, domain: str, mx_hosts: list[str], owner: str | None = None
) -> None:
    """A registered domain whose latest check saw `mx_hosts` (a snapshot
    as the watcher stores it: tlsrpt.watch.snapshot)."""
    from datetime import UTC, datetime, timedelta

    from tlsrpt.store.users import add_domain
    from tlsrpt.store.watch import SnapshotSummary, record_snapshot
    from tlsrpt.watch.snapshot import canonical, digest

    mx = [
        {"host": h, "preference": 10, "addresses": [], "tls": None, "tlsa": [], "tlsa_status": "ok"}
        for h in mx_hosts
    ]
    snapshot: dict[str, Any] = {"mx": mx, "findings": []}
    with store.write() as conn:
        add_domain(conn, domain, owner)
        record_snapshot(
            conn,
            domain,
            canonical(snapshot).decode(),
            digest(snapshot),
            SnapshotSummary(0, 0, None),
            datetime.now(UTC),
            timedelta(days=1),
        )


@pytest.fixture(scope="session")
def postfix() -> Any:
    """The Postfix report builders above, for test modules."""
    from types import SimpleNamespace

    return SimpleNamespace(report=postfix_report, mail=postfix_mail, register=register_with_mx)


@pytest.fixture(autouse=True)
def _no_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    from tlsrpt.web.dashboard import rdns

    original = rdns.ReverseNames.__init__

    def loopback_only(self: Any, nameservers: Any = (), *args: Any, **kwargs: Any) -> None:
        if not nameservers:
            kwargs["enabled"] = False
        original(self, nameservers, *args, **kwargs)

    monkeypatch.setattr(rdns.ReverseNames, "__init__", loopback_only)


@contextlib.contextmanager
def module_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[Store]:
    """A store of its own for a module-scoped fixture parametrised with
    "sqlite" and "postgresql": a SQLite file, or a PostgreSQL schema dropped
    afterwards."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp(name) / f'{name}.sqlite3'}"
        else:
            base = request.getfixturevalue("postgres_base")
            url = stack.enter_context(temporary_schema(base, f"tlsrpt_{name}"))
        store = open_store(url)
        stack.callback(store.close)
        yield store
