"""`tlsrpt mta-sts init|show|set|history|promote|rollback`: every
subcommand, its `--json` shape and exit status; MX sets from a real DNS
server on loopback; promotion judged on reports ingested through the
pipeline, with the clock injected (`--now`)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.name
import dns.zone
import orjson
import pytest

from tlsrpt.cli import main
from tlsrpt.demo import load_demo
from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.records import parse_sts_policy, parse_sts_record
from tlsrpt.report.model import DateRange, FailureDetail, Policy, PolicyResult, Report, Summary
from tlsrpt.report.serialize import to_json
from tlsrpt.store.engine import open_store

sys.path.insert(0, str(Path(__file__).parents[1] / "check"))
from checklab.dns_server import AuthoritativeServer

ZONES = {
    "example.com.": "@ MX 20 MX2.Example.COM.\n@ MX 10 mx1.example.com.\n",
    "nomx.example.": "@ A 192.0.2.1\n",
    "nullmx.example.": "@ MX 0 .\n",
    "broken.example.": "@ MX 10 mx.broken.example.\n",
    "oddmx.example.": "@ MX 10 mx_1.oddmx.example.\n",
}


@dataclass
class Run:
    status: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        return orjson.loads(self.out)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def nameserver() -> Iterator[str]:
    """An authoritative server for ZONES on 127.0.0.1 (its own thread);
    broken.example answers SERVFAIL."""
    server = AuthoritativeServer()
    for origin, body in ZONES.items():
        soa = "@ SOA ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 300\n@ NS ns.lab.test.\n"
        zone = dns.zone.from_text(soa + body, origin=origin, relativize=False)
        server.add_zone(zone)
    server.servfail.add((dns.name.from_text("broken.example."), 15))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", 0), loop).result(10)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for var in ("TLSRPT_PUBLIC_URL", "TLSRPT_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    return db_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hosted.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


def tlsrpt(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> Run:
    capsys.readouterr()
    try:
        status = main([*argv, "--db", db])
    except SystemExit as exc:
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return Run(status, out, err)


def at(day: date, hour: int = 12) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat()


def register(capsys: pytest.CaptureFixture[str], db: str, *domains: str) -> None:
    for domain in domains:
        assert tlsrpt(capsys, db, "domain", "add", domain).status == 0


def test_init_needs_a_registered_domain(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run = tlsrpt(capsys, db, "mta-sts", "init", "example.com", "--mx", "mx.example.com")
    assert run.status == 2
    assert "tlsrpt domain add example.com" in run.err


def test_init_from_the_live_mx_set(
    capsys: pytest.CaptureFixture[str], db: str, nameserver: str
) -> None:
    register(capsys, db, "example.com")
    now = "2026-12-07T12:00:00Z"
    run = tlsrpt(
        capsys, db, "mta-sts", "init", "Example.COM.", "--json", "--nameserver", nameserver,
        "--now", now,
    )  # fmt: skip
    assert run.status == 0, run.err
    doc = run.json()
    assert set(doc) >= {"domain", "policy", "records"}
    assert doc["domain"] == "example.com"
    policy = doc["policy"]
    assert set(policy) >= {"mode", "mx", "max_age", "id", "text"}
    assert policy["mx"] == ["mx1.example.com", "mx2.example.com"]  # by preference, lower-cased
    assert (policy["mode"], policy["max_age"], policy["id"]) == (
        "testing",
        86400,
        "20261207T120000Z1",
    )
    parsed, problems = parse_sts_policy(policy["text"].encode(), strict=True)
    assert parsed is not None and parsed.mx == ("mx1.example.com", "mx2.example.com"), problems
    # no public_url: only the _mta-sts record, and a note that says how to get the others
    assert doc["records"] == [
        {"name": "_mta-sts.example.com", "type": "TXT", "value": "v=STSv1; id=20261207T120000Z1"}
    ]
    assert "--public-url" in doc["notes"][0]

    shown = tlsrpt(
        capsys, db, "mta-sts", "show", "example.com", "--json", "--public-url",
        "https://tlsrpt.provider.example",
    )  # fmt: skip
    assert shown.status == 0
    records = {(r["name"], r["type"]): r["value"] for r in shown.json()["records"]}
    assert records == {
        ("_mta-sts.example.com", "TXT"): "v=STSv1; id=20261207T120000Z1",
        (
            "_smtp._tls.example.com",
            "TXT",
        ): "v=TLSRPTv1;rua=https://tlsrpt.provider.example/v1/reports",
        ("mta-sts.example.com", "CNAME"): "tlsrpt.provider.example",
    }
    again = tlsrpt(capsys, db, "mta-sts", "init", "example.com", "--mx", "mx.example.com")
    assert again.status == 2 and "mta-sts set example.com" in again.err


@pytest.mark.parametrize(
    ("domain", "status", "says"),
    [
        ("nomx.example", 1, "no MX records"),
        ("nullmx.example", 1, "null MX"),
        ("broken.example", 2, "MX lookup of broken.example failed"),
        ("oddmx.example", 1, "'mx_1.oddmx.example'"),
    ],
)
def test_init_without_a_usable_mx_set(
    capsys: pytest.CaptureFixture[str],
    db: str,
    nameserver: str,
    domain: str,
    status: int,
    says: str,
) -> None:
    register(capsys, db, domain)
    run = tlsrpt(capsys, db, "mta-sts", "init", domain, "--nameserver", nameserver)
    assert run.status == status and says in run.err
    assert tlsrpt(capsys, db, "mta-sts", "show", domain).status == 2  # nothing was stored


def test_show_set_and_history(capsys: pytest.CaptureFixture[str], db: str) -> None:
    register(capsys, db, "example.com")
    assert tlsrpt(capsys, db, "mta-sts", "show", "example.com").status == 2  # not hosted
    init = tlsrpt(
        capsys, db, "mta-sts", "init", "example.com", "--mx", "mx1.example.com", "--now",
        "2026-12-07T12:00:00Z", "--public-url", "https://tlsrpt.provider.example",
    )  # fmt: skip
    assert init.status == 0
    assert '_mta-sts.example.com. IN TXT "v=STSv1; id=20261207T120000Z1"' in init.out
    assert "mta-sts.example.com. IN CNAME tlsrpt.provider.example." in init.out
    assert "version: STSv1" in init.out and "next: " in init.out

    def change(*args: str) -> Run:
        return tlsrpt(capsys, db, "mta-sts", "set", "example.com", "--json", *args)

    added = change("--add-mx", "*.mx.example.com", "--now", "2026-12-08T00:00:00Z")
    assert added.status == 0 and added.json()["changed"] is True
    assert added.json()["policy"]["mx"] == ["mx1.example.com", "*.mx.example.com"]
    assert added.json()["policy"]["id"] == "20261208T000000Z2"
    assert added.json()["records"][0]["value"] == "v=STSv1; id=20261208T000000Z2"
    same = change("--mx", "mx1.example.com", "--mx", "*.mx.example.com")
    assert same.status == 0 and same.json()["changed"] is False
    assert same.json()["policy"]["version"] == 2
    longer = change("--max-age", "172800", "--remove-mx", "mx1.example.com")
    assert longer.json()["policy"]["mx"] == ["*.mx.example.com"]
    assert longer.json()["policy"]["max_age"] == 172800
    for refused, says in [
        ((), "nothing to change"),
        (("--mode", "enforce"), "mta-sts promote"),
        (("--mode", "none"), "mta-sts rollback"),
        (("--remove-mx", "mx9.example.com"), "not in the policy"),
        (("--remove-mx", "*.mx.example.com"), "at least one mx"),
        (("--max-age", "31557601"), "31557600"),
        (("--mx", "a.example", "--add-mx", "b.example"), "alone"),
        (("--now", "yesterday", "--max-age", "5"), "--now"),
    ]:
        run = change(*refused)
        assert run.status == 2 and says in run.err, refused

    history = tlsrpt(capsys, db, "mta-sts", "history", "example.com", "--json")
    assert history.status == 0
    doc = history.json()
    assert doc["current"] == 3 and [v["version"] for v in doc["versions"]] == [1, 2, 3]
    assert len({v["id"] for v in doc["versions"]}) == 3
    assert [v["note"] for v in doc["versions"]] == ["init", "set", "set"]
    assert doc["versions"][0]["created_at"] == "2026-12-07T12:00:00Z"
    table = tlsrpt(capsys, db, "mta-sts", "history", "example.com")
    assert table.out.splitlines()[0].split("\t")[:3] == ["version", "created", "mode"]
    assert len(table.out.splitlines()) == 4


def report(domain: str, day: date, ok: int, failures: list[FailureDetail]) -> bytes:
    begins = datetime(day.year, day.month, day.day, tzinfo=UTC)
    policy = Policy(
        "sts",
        ["version: STSv1", "mode: testing", f"mx: mx1.{domain}", "max_age: 86400"],
        domain,
        [f"mx1.{domain}"],
    )
    failed = sum(f.failed_session_count for f in failures)
    return to_json(
        Report(
            organization_name="Google Inc.",
            date_range=DateRange(begins, begins + timedelta(days=1, seconds=-1)),
            contact_info="smtp-tls-reporting@google.com",
            report_id=f"{day}_{domain}",
            policies=[PolicyResult(policy, Summary(ok, failed), failures)],
        )
    )


def test_promote_waits_for_enough_clean_reports(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    """Clean reports from Google for 25 days from D0: with the clock on day
    5 there is too little to go on, on day 20 it is ready."""
    d0 = date(2026, 11, 1)
    with open_store(db) as store:
        for n in range(25):
            data = report("example.com", d0 + timedelta(days=n), 900, [])
            assert ingest(store, data, SourceInfo("file", f"r{n}.json")).outcome == "accepted"
    register(capsys, db, "example.com")
    init = ("mta-sts", "init", "example.com", "--mx", "mx1.example.com", "--now", at(d0))
    assert tlsrpt(capsys, db, *init).status == 0

    early = tlsrpt(
        capsys, db, "mta-sts", "promote", "example.com", "--now", at(d0 + timedelta(days=5))
    )
    assert early.status == 1
    assert "insufficient-data" in early.err and "6 days with reports" in early.err
    early_json = tlsrpt(
        capsys,
        db,
        "mta-sts",
        "promote",
        "example.com",
        "--json",
        "--now",
        at(d0 + timedelta(days=5)),
    )
    promotion = early_json.json()["promotion"]
    assert early_json.status == 1 and promotion["allowed"] is False
    assert promotion["readiness"]["verdict"] == "insufficient-data"
    assert early_json.json()["policy"]["version"] == 1  # nothing published

    later = tlsrpt(
        capsys,
        db,
        "mta-sts",
        "promote",
        "example.com",
        "--json",
        "--now",
        at(d0 + timedelta(days=20)),
    )
    assert later.status == 0, later.out
    doc = later.json()
    assert (doc["policy"]["mode"], doc["policy"]["max_age"], doc["policy"]["version"]) == (
        "enforce",
        604800,
        2,
    )
    assert (
        doc["promotion"]["readiness"]["verdict"] == "ready" and doc["promotion"]["forced"] is False
    )
    assert doc["records"][0]["value"] == f"v=STSv1; id={doc['policy']['id']}"
    assert doc["next_step"]["not_before"] == "2026-12-05T12:00:00Z"  # 14 days at one week
    assert doc["next_step"]["max_age"] == 2592000


def test_promote_refused_on_a_not_ready_domain_and_allowed_on_a_ready_one(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    """The demo's generated reports: shop.example.net has an MX with an
    expired certificate (not ready), example.com is clean (ready)."""
    end = date(2026, 12, 6)
    with open_store(db) as store:
        load_demo(store, end=end, days=40)
    now = at(end + timedelta(days=1), 8)
    for domain in ("example.com", "shop.example.net"):
        init = ("mta-sts", "init", domain, "--mx", f"mx1.{domain}", "--mx", f"mx2.{domain}")
        assert tlsrpt(capsys, db, *init, "--now", at(end - timedelta(days=30))).status == 0

    refused = tlsrpt(capsys, db, "mta-sts", "promote", "shop.example.net", "--now", now)
    assert refused.status == 1
    assert "not-ready" in refused.err and "certificate-expired" in refused.err
    assert "mx2.shop.example.net" in refused.err  # the reason names the MX
    shown = tlsrpt(capsys, db, "mta-sts", "show", "shop.example.net", "--json")
    assert shown.json()["policy"]["mode"] == "testing"

    allowed = tlsrpt(capsys, db, "mta-sts", "promote", "example.com", "--now", now)
    assert allowed.status == 0, allowed.err
    assert "mode enforce, max_age 604800" in allowed.out and "promoted" in allowed.out

    # the next step is held for 14 days, then allowed; --force says what it overrode
    held = tlsrpt(capsys, db, "mta-sts", "promote", "example.com", "--json", "--now", now)
    assert held.status == 1
    assert [r["check"] for r in held.json()["promotion"]["reasons"]] == ["hold"]
    forced = tlsrpt(
        capsys, db, "mta-sts", "promote", "shop.example.net", "--force", "--json", "--now", now
    )
    assert forced.status == 0
    assert forced.json()["promotion"]["forced"] is True
    assert forced.json()["policy"]["note"].startswith("promote --force: ")
    assert "certificate-expired" in forced.json()["policy"]["note"]


def test_rollback_publishes_none_and_says_when_records_may_go(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    register(capsys, db, "example.com")
    base = ("--now", "2026-12-01T00:00:00Z")
    assert (
        tlsrpt(capsys, db, "mta-sts", "init", "example.com", "--mx", "mx.example.com", *base).status
        == 0
    )
    steps = [
        ("promote", "--force", "--now", "2026-12-02T00:00:00Z"),
        ("set", "--max-age", "31557600", "--now", "2026-12-03T00:00:00Z"),
        ("set", "--max-age", "604800", "--now", "2026-12-04T00:00:00Z"),
    ]
    for step in steps:
        assert tlsrpt(capsys, db, "mta-sts", step[0], "example.com", *step[1:]).status == 0
    run = tlsrpt(
        capsys, db, "mta-sts", "rollback", "example.com", "--json", "--now", "2026-12-10T00:00:00Z"
    )
    assert run.status == 0
    doc = run.json()
    assert (doc["policy"]["mode"], doc["policy"]["max_age"]) == ("none", 31557600)
    assert doc["rollback"] == {"published": True, "remove_records_after": "2027-12-10T06:00:00Z"}
    parsed = parse_sts_record(doc["records"][0]["value"]).value
    assert parsed is not None and parsed.id == doc["policy"]["id"] == "20261210T000000Z5"

    again = tlsrpt(
        capsys, db, "mta-sts", "rollback", "example.com", "--now", "2026-12-11T00:00:00Z"
    )
    assert again.status == 0 and "already rolled back" in again.out
    assert "2027-12-10 06:00 UTC" in again.out
    assert tlsrpt(capsys, db, "mta-sts", "history", "example.com", "--json").json()["current"] == 5

    off = tlsrpt(capsys, db, "mta-sts", "promote", "example.com", "--force")
    assert off.status == 1 and "mode none" in off.err
    restart = tlsrpt(capsys, db, "mta-sts", "set", "example.com", "--mode", "testing", "--json")
    assert restart.status == 0
    assert (restart.json()["policy"]["mode"], restart.json()["policy"]["max_age"]) == (
        "testing",
        86400,
    )


def test_public_url_from_the_environment_and_refused_when_unusable(
    capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    register(capsys, db, "example.com")
    assert (
        tlsrpt(capsys, db, "mta-sts", "init", "example.com", "--mx", "mx.example.com").status == 0
    )
    monkeypatch.setenv("TLSRPT_PUBLIC_URL", "https://192.0.2.10")
    records = tlsrpt(capsys, db, "mta-sts", "show", "example.com", "--json").json()["records"]
    assert records[2] == {"name": "mta-sts.example.com", "type": "A", "value": "192.0.2.10"}
    config = tmp_path / "tlsrpt.toml"
    config.write_text('public_url = "http://tlsrpt.provider.example"\n')
    monkeypatch.delenv("TLSRPT_PUBLIC_URL")
    bad = tlsrpt(capsys, db, "mta-sts", "show", "example.com", "--config", str(config))
    assert bad.status == 2 and "https://" in bad.err


def test_enforce_at_init_is_gated_like_promote(capsys: pytest.CaptureFixture[str], db: str) -> None:
    register(capsys, db, "example.com")
    args = (
        "mta-sts",
        "init",
        "example.com",
        "--mx",
        "mx.example.com",
        "--mode",
        "enforce",
        "--json",
    )
    refused = tlsrpt(capsys, db, *args)
    assert refused.status == 1
    assert refused.json()["policy"] is None and refused.json()["promotion"]["allowed"] is False
    assert tlsrpt(capsys, db, "mta-sts", "show", "example.com").status == 2
    forced = tlsrpt(capsys, db, *args, "--force")
    assert forced.status == 0 and forced.json()["policy"]["mode"] == "enforce"
    assert forced.json()["policy"]["note"].startswith("init --force: ")


def test_promote_at_the_last_step_publishes_nothing(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    register(capsys, db, "example.com")
    init = ("mta-sts", "init", "example.com", "--mx", "mx.example.com", "--mode", "enforce")
    assert tlsrpt(capsys, db, *init, "--max-age", "31557600", "--force").status == 0
    top = tlsrpt(capsys, db, "mta-sts", "promote", "example.com", "--json")
    assert top.status == 0 and top.json()["promotion"]["last_step"] is True
    assert top.json()["policy"]["version"] == 1
    assert top.json()["next_step"]["command"] is None
    human = tlsrpt(capsys, db, "mta-sts", "promote", "example.com")
    assert human.status == 0 and "at the last step" in human.out
