"""The ingest pipeline against real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import gzip
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from tlsrpt.analysis.summary import DomainSummary, summarize
from tlsrpt.ingest.model import HELD, RawInput, SourceInfo, UnsignedRelease
from tlsrpt.ingest.pipeline import ingest, ingest_batch, ingest_prepared, prepare, reprocess
from tlsrpt.store import blobs
from tlsrpt.store.engine import Store
from tlsrpt.store.reads import Window, get_raw, get_report, summary_rows

FILE = SourceInfo("file", "/reports/in.json")


def _summary(store: Store, window: Window | None = None) -> dict[str | None, DomainSummary]:
    with store.read() as conn:
        rows = summary_rows(conn, window or Window())
    return {
        s.domain: s for s in summarize(rows.totals, rows.by_result, rows.mx_hosts, rows.sending_ips)
    }


def _count(store: Store, table: str) -> int:
    with store.read() as conn:
        return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())


def _mail(*attachments: tuple[bytes, str, str], domain: str | None = "example.com") -> bytes:
    msg = EmailMessage()
    msg["From"] = "noreply-smtp-tls-reporting@org.example"
    msg["To"] = "tlsrpt@example.com"
    msg["Subject"] = "Report Domain: example.com Submitter: org.example Report-ID: <1@org.example>"
    if domain:
        msg["TLS-Report-Domain"] = domain
    msg["TLS-Report-Submitter"] = "org.example"
    msg.set_content("This is an aggregate TLS report.")
    for data, subtype, name in attachments:
        msg.add_attachment(data, maintype="application", subtype=subtype, filename=name)
    return msg.as_bytes()


def test_accepted_then_duplicates_never_counted_twice(store: Store, make: Any) -> None:
    """RFC 8460 §5.3; docs/conformance.md#de-duplication: same bytes, or the same report in other
    bytes (gzip, a mail), is a duplicate; the same key with other content a conflict."""
    policy = make.policy(ok=90, failed=10, failures=[make.failure(count=10)])
    body = make.json("r-1", policies=[policy])
    first = ingest(store, body, FILE)
    assert first.outcome == "accepted"
    assert len(first.report_ids) == 1

    again = ingest(store, body, SourceInfo("http", "192.0.2.7"))
    assert (again.outcome, again.reason_code, again.raw_id) == (
        "duplicate",
        "same-bytes",
        first.raw_id,
    )
    assert again.report_ids == first.report_ids

    zipped = ingest(store, gzip.compress(body), SourceInfo("http", "192.0.2.8"))
    assert (zipped.outcome, zipped.reason_code, zipped.conflict) == (
        "duplicate",
        "same-report",
        False,
    )
    assert zipped.report_ids == first.report_ids
    mailed = ingest(store, _mail((gzip.compress(body), "tlsrpt+gzip", "r.json.gz")), FILE)
    assert mailed.outcome == "duplicate"

    changed = make.policy(ok=91, failed=10, failures=[make.failure(count=10)])
    conflicting = ingest(store, make.json("r-1", policies=[changed]), FILE)
    assert (conflicting.outcome, conflicting.reason_code, conflicting.conflict) == (
        "duplicate",
        "conflict",
        True,
    )
    assert conflicting.report_ids == first.report_ids

    summary = _summary(store)["example.com"]
    assert (summary.reports, summary.successful_sessions, summary.failed_sessions) == (1, 90, 10)
    assert summary.failures_by_result_type == {"certificate-expired": 10}
    assert _count(store, "reports") == 1
    assert _count(store, "raw_inputs") == 4  # same bytes are stored once
    with store.read() as conn:
        stored = get_report(conn, first.report_ids[0])
    assert stored is not None
    assert [(d["conflict"], d["source_kind"]) for d in stored.duplicates] == [
        (False, "http"),
        (False, "file"),
        (True, "file"),
    ]


def test_other_start_or_organization_is_another_report(store: Store, make: Any) -> None:
    ingest(store, make.json("same-id", day="2024-03-01"), FILE)
    assert ingest(store, make.json("same-id", day="2024-03-02"), FILE).outcome == "accepted"
    assert ingest(store, make.json("same-id", org="Other Org"), FILE).outcome == "accepted"
    # organization compared case- and whitespace-insensitively
    assert ingest(store, make.json("same-id", org=" example  ORG "), FILE).outcome == "duplicate"


def _bomb() -> bytes:
    return gzip.compress(b"\x00" * (30 * 1024 * 1024), compresslevel=9)


HOSTILE = [
    (b"", "empty-input"),
    (b"hello, this is not a report\n", "no-report-in-message"),
    (b'{"not": "a report"}', "schema"),
    (b'{"organization-name": "x", "date-range": ', "json-invalid"),
    (gzip.compress(b'{"organization-name": "Example"}' * 50)[:-12], "gzip-truncated"),
    (b"\x1f\x8bthis is no gzip stream at all", "gzip-invalid"),
    (os.urandom(4096).replace(b"\x1f\x8b", b"xx").replace(b"{", b"x"), None),
]


@pytest.mark.parametrize(("data", "code"), HOSTILE, ids=[code for _, code in HOSTILE])
def test_hostile_input_is_quarantined_with_its_bytes(
    store: Store, data: bytes, code: str | None
) -> None:
    result = ingest(store, data, FILE)
    assert result.outcome == "quarantined"
    if code is not None:
        assert result.reason_code == code
    assert result.reason
    with store.read() as conn:
        raw = get_raw(conn, result.raw_id)
    assert raw is not None
    assert (raw["outcome"], raw["reason_code"]) == ("quarantined", result.reason_code)
    assert blobs.unpack(raw["codec"], raw["data"]) == data
    # a copy of a quarantined input is still quarantined, never a "duplicate"
    again = ingest(store, data, FILE)
    assert (again.outcome, again.raw_id) == ("quarantined", result.raw_id)
    assert f"quarantined input {result.raw_id}" in (again.reason or "")


def test_gzip_bomb_and_mail_without_report(store: Store) -> None:
    bomb = _bomb()
    result = ingest(store, bomb, FILE)
    assert (result.outcome, result.reason_code) == ("quarantined", "decompressed-too-large")
    with store.read() as conn:
        raw = get_raw(conn, result.raw_id)
    assert raw is not None
    assert raw["codec"] == "none"  # gzip is kept as received
    assert raw["data"] == bomb
    plain = _mail()
    result = ingest(store, plain, FILE)
    assert (result.outcome, result.reason_code) == ("quarantined", "no-report-in-message")


def test_report_covering_several_domains_is_attributed_per_domain(store: Store, make: Any) -> None:
    report = make.json(
        "multi",
        policies=[
            make.policy("a.example", "sts", ok=5, failed=1, failures=[make.failure(count=1)]),
            make.policy(
                "a.example", "tlsa", ok=7, failed=2, failures=[make.failure("tlsa-invalid", 2)]
            ),
            make.policy("b.example", "sts", ok=3),
        ],
    )
    assert ingest(store, report, FILE).outcome == "accepted"
    summary = _summary(store)
    a, b = summary["a.example"], summary["b.example"]
    assert (a.reports, a.successful_sessions, a.failed_sessions) == (1, 12, 3)
    assert a.failures_by_result_type == {"tlsa-invalid": 2, "certificate-expired": 1}
    assert (b.reports, b.successful_sessions, b.failed_sessions) == (1, 3, 0)
    with store.read() as conn:
        per_type = conn.exec_driver_sql(
            "SELECT policy_type, reports, successful_sessions FROM daily_rollups "
            "WHERE domain = 'a.example' AND result_type = '' ORDER BY policy_type"
        ).all()
    assert [tuple(r) for r in per_type] == [("", 1, 12), ("sts", 1, 5), ("tlsa", 1, 7)]


def test_missing_policy_domain_is_taken_from_header_then_file_name(store: Store, make: Any) -> None:
    """Postfix/libtlsrpt omits policy-domain for no-policy-found; the body
    stays authoritative when it has one (RFC 8460 §5.6; docs/conformance.md#body-wins)."""
    nameless = make.policy(None, "no-policy-found", ok=4)
    mailed = _mail(
        (make.json("m", policies=[nameless]), "tlsrpt+json", "x.json"), domain="hdr.example"
    )
    assert ingest(store, mailed, FILE).outcome == "accepted"
    named = SourceInfo("file", "/in/mx.org.example!file.example!1709251200!1709337599.json")
    assert ingest(store, make.json("f", policies=[nameless]), named).outcome == "accepted"
    assert ingest(store, make.json("u", policies=[nameless]), FILE).outcome == "accepted"
    body_wins = make.policy("body.example", ok=1)
    named_other = SourceInfo("file", "/in/mx.org.example!other.example!1709251200!1709337599.json")
    assert ingest(store, make.json("b", policies=[body_wins]), named_other).outcome == "accepted"
    summary = _summary(store)
    assert {d: s.reports for d, s in summary.items()} == {
        "hdr.example": 1,
        "file.example": 1,
        None: 1,
        "body.example": 1,
    }
    with store.read() as conn:
        report = get_report(conn, 1)
    assert report is not None
    deviations = orjson.loads(report.report["deviations"])
    assert {
        "code": "policy-domain-inferred",
        "path": "$.policies[0].policy.policy-domain",
        "message": "policy-domain taken from the TLS-Report-Domain header",
        "violation": False,
    } in deviations


def test_partly_bad_mail_keeps_the_good_report_and_notes_the_bad_part(
    store: Store, make: Any
) -> None:
    mailed = _mail(
        (gzip.compress(make.json("good")), "tlsrpt+gzip", "good.json.gz"),
        (b"\x1f\x8bbroken", "tlsrpt+gzip", "bad.json.gz"),
    )
    result = ingest(store, mailed, FILE)
    assert result.outcome == "accepted"
    assert len(result.report_ids) == 1
    assert any("gzip-invalid" in w for w in result.warnings)
    with store.read() as conn:
        raw = get_raw(conn, result.raw_id)
    assert raw is not None
    assert orjson.loads(raw["notes"])[0]["code"] == "gzip-invalid"


def test_same_report_twice_in_one_batch(store: Store, make: Any) -> None:
    body = make.json("twice")
    results = ingest_batch(
        store,
        [
            RawInput(body, FILE),
            RawInput(body, FILE),
            RawInput(gzip.compress(body), FILE),
            RawInput(b"junk", FILE),
            RawInput(b"junk", FILE),
        ],
    )
    assert [(r.outcome, r.reason_code) for r in results] == [
        ("accepted", None),
        ("duplicate", "same-bytes"),
        ("duplicate", "same-report"),
        ("quarantined", "no-report-in-message"),
        ("quarantined", "same-bytes"),
    ]
    assert results[1].report_ids == results[2].report_ids == results[0].report_ids
    assert _summary(store)["example.com"].reports == 1


def test_values_no_database_can_hold(store: Store, make: Any) -> None:
    with_nul = ingest(store, make.json("n", org="Evil\u0000Org"), FILE)
    assert with_nul.outcome == "accepted"
    with store.read() as conn:
        report = get_report(conn, with_nul.report_ids[0])
    assert report is not None
    assert report.report["organization"] == "Evil\ufffdOrg"
    assert "nul-character" in report.report["deviations"]
    huge = ingest(store, make.json("h", policies=[make.policy(ok=2**60)]), FILE)
    assert (huge.outcome, huge.reason_code) == ("quarantined", "count-implausible")


def _refuse_org(store: Store, org: str) -> None:
    with store.write() as conn:
        if store.is_sqlite:
            conn.exec_driver_sql(
                f"CREATE TRIGGER refuse BEFORE INSERT ON reports WHEN NEW.organization = '{org}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.organization = '{org}' THEN RAISE EXCEPTION 'refused by test trigger' "
                "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON reports FOR EACH ROW EXECUTE FUNCTION refuse()"
            )


def test_input_the_database_refuses_is_quarantined_alone(store: Store, make: Any) -> None:
    """A batch the database refuses is split: the others are stored, the
    culprit is quarantined with the database's reason."""
    _refuse_org(store, "Refused Org")
    results = ingest_batch(
        store,
        [
            RawInput(make.json("ok-1"), FILE),
            RawInput(make.json("bad", org="Refused Org"), FILE),
            RawInput(make.json("ok-2"), FILE),
        ],
    )
    assert [r.outcome for r in results] == ["accepted", "quarantined", "accepted"]
    assert results[1].reason_code == "database-refused"
    assert "refused by test trigger" in (results[1].reason or "")
    assert _summary(store)["example.com"].reports == 2


def test_held_input_stays_held_on_retry_until_released(store: Store, make: Any) -> None:
    """A receiver may hold an input (RFC 8460 §3: mailed report without a valid
    DKIM signature). Retry applies the rule of its first ingestion again:
    it stays held; only an explicit release lets it in, recorded on it."""
    source = SourceInfo(
        "smtp",
        "MAIL FROM:<r@org.example> RCPT TO:<tlsrpt@example.com>",
        "message/rfc822",
        {"dkim": "fail"},
        datetime(2024, 3, 2, 1, 0, tzinfo=UTC),
    )
    held = ingest(store, make.json("held"), source, hold="DKIM signature missing")
    assert (held.outcome, held.reason_code) == ("quarantined", HELD)
    with store.read() as conn:
        raw = get_raw(conn, held.raw_id)
    assert raw is not None
    assert raw["kind"] is None  # not parsed
    assert orjson.loads(raw["source_meta"]) == {"dkim": "fail"}
    assert raw["received_at"] == datetime(2024, 3, 2, 1, 0)
    assert raw["content_type"] == "message/rfc822"
    still = ingest(store, b"garbage", FILE)
    ids = [held.raw_id, still.raw_id, ingest(store, make.json("x"), FILE).raw_id]

    kept, unchanged, untouched = reprocess(store, ids)
    assert (kept.outcome, kept.reason_code, kept.raw_id) == ("quarantined", HELD, held.raw_id)
    assert kept.reason == "DKIM signature missing"
    assert not kept.released_unsigned
    assert unchanged.outcome == "quarantined"
    assert untouched.outcome == "accepted"
    assert _summary(store)["example.com"].reports == 1

    release = UnsignedRelease("alice", datetime(2024, 3, 5, 9, 30, tzinfo=UTC), "test")
    released, unchanged, untouched = reprocess(store, ids, release=release)
    assert (released.outcome, released.raw_id, released.released_unsigned) == (
        "accepted",
        held.raw_id,
        True,
    )
    assert (unchanged.outcome, unchanged.released_unsigned) == ("quarantined", False)
    assert untouched.outcome == "accepted"
    assert _summary(store)["example.com"].reports == 2
    with store.read() as conn:
        meta = orjson.loads(get_raw(conn, held.raw_id)["source_meta"])  # type: ignore[index]
        assert orjson.loads(get_raw(conn, still.raw_id)["source_meta"] or "{}") == {}  # type: ignore[index]
    assert meta == {
        "dkim": "fail",
        "accepted_unsigned": {"by": "alice", "at": "2024-03-05T09:30:00Z", "how": "test"},
    }
    with pytest.raises(KeyError):
        reprocess(store, [10_000])


def test_threads_ingesting_at_once_count_each_report_once(store: Store, make: Any) -> None:
    """ingest() is safe from a thread pool: overlapping inputs from 8 threads."""
    bodies = [make.json(f"r-{i}", policies=[make.policy(ok=i, failed=1)]) for i in range(40)]
    inputs = [b for b in bodies for _ in range(3)] + [gzip.compress(b) for b in bodies]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda b: ingest(store, b, FILE), inputs))
    assert sum(r.outcome == "accepted" for r in results) == 40
    assert sum(r.outcome == "duplicate" for r in results) == 120
    summary = _summary(store)["example.com"]
    assert (summary.reports, summary.successful_sessions, summary.failed_sessions) == (
        40,
        sum(range(40)),
        40,
    )


def test_window_filters_days_inclusively(store: Store, make: Any) -> None:
    for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
        ingest(store, make.json(day, day=day, policies=[make.policy(ok=1)]), FILE)
    window = Window(domain="example.com", since=date(2024, 3, 2), until=date(2024, 3, 3))
    assert _summary(store, window)["example.com"].reports == 2
    assert _summary(store, Window(domain="other.example")) == {}


def test_raw_inputs_keep_their_outcome_after_commit(store: Store, make: Any) -> None:
    result = ingest(store, make.json("c"), FILE)
    with store.engine.connect() as conn:  # a fresh connection sees it committed
        outcome = conn.execute(
            sa.text("SELECT outcome FROM raw_inputs WHERE id = :id"), {"id": result.raw_id}
        ).scalar_one()
    assert outcome == "accepted"


def test_prepare_needs_no_database_and_its_result_is_written_later(store: Store, make: Any) -> None:
    """`prepare` is the pure half of the pipeline (digest, parse, rows,
    stored form); `ingest_prepared` writes what it produced."""
    good = make.json("r-prep")
    prepared = [
        prepare(RawInput(gzip.compress(good), FILE)),
        prepare(RawInput(b"{not json", FILE)),
        prepare(RawInput(good, FILE, hold="DKIM failed")),
    ]
    ok, bad, held = prepared
    assert ok.kind == "gzip" and ok.codec == "none" and ok.quarantine is None
    assert [r.report.report_id for r in ok.rows] == ["r-prep"]
    assert bad.quarantine is not None and not bad.rows
    assert held.quarantine == ("held", "DKIM failed") and held.codec == "zlib"
    assert _count(store, "raw_inputs") == 0
    results = ingest_prepared(store, prepared)
    assert [r.outcome for r in results] == ["accepted", "quarantined", "quarantined"]
    assert results[2].reason == "DKIM failed"
    again = ingest_batch(store, [RawInput(ok.data, FILE), RawInput(good, FILE)])
    assert [r.reason_code for r in again] == ["same-bytes", "same-bytes"]
    assert [r.outcome for r in again] == ["duplicate", "quarantined"]  # as first stored


def test_bytes_already_stored_are_not_parsed_again(
    store: Store, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step 1 of the pipeline: a re-import (a Maildir imported every day,
    say) finds the stored bytes before any parsing; new bytes are parsed."""
    from tlsrpt.ingest import pipeline

    old, new = make.json("r-old"), make.json("r-new")
    assert ingest(store, old, FILE).outcome == "accepted"
    parsed: list[bytes] = []
    real = pipeline.parse_input

    def counting(data: bytes, **kwargs: Any) -> Any:
        parsed.append(data)
        return real(data, **kwargs)

    monkeypatch.setattr(pipeline, "parse_input", counting)
    results = ingest_batch(store, [RawInput(old, FILE), RawInput(new, FILE)])
    assert [(r.outcome, r.reason_code) for r in results] == [
        ("duplicate", "same-bytes"),
        ("accepted", None),
    ]
    assert parsed == [new]
