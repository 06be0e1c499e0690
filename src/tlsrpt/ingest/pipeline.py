"""The one ingest pipeline every source uses (files, HTTP, SMTP, IMAP).

`ingest(store, data, source)` stores one input and returns its committed
outcome; `ingest_batch(store, inputs)` does the same for many inputs in one
transaction (what `tlsrpt import` uses). Both are synchronous and safe to
call from any number of threads and processes at once.

Per input:
1. the same bytes already stored make the input a duplicate of that stored
   input, before any parsing (a read; should retention remove that input
   before the write, the batch is written again with every input parsed);
2. otherwise the bytes are parsed (`tlsrpt.report.parse_input`) and the rows
   built, outside the write transaction (`prepare`);
then in one write transaction:
3. an input that would be quarantined and carries a quarantine budget
   (the HTTP receiver's, per client and UTC day: `tlsrpt.store.budget`)
   is charged to it, or refused when over it: then it is not stored;
4. the raw bytes are stored (compressed) with the outcome: accepted,
   duplicate, or quarantined with the reason when nothing usable was found;
   then the report, policy and failure rows, and the daily roll-ups are
   incremented;
5. the transaction commits: the raw bytes and everything derived from them
   become visible, and durable, together — or not at all.

Durability contract for receivers: when `ingest()` returns, the raw bytes
and their outcome are committed (SQLite `synchronous=FULL`, PostgreSQL
commit), so answering 2xx / 250 after it returns is safe; if it raises, the
input is not stored and the receiver must answer with a temporary failure
(5xx / 4xx SMTP) so the sender retries. Nothing is stored in part.

De-duplication (RFC 8460 §5.3): the same bytes, or a report with the same
organization, report-id and start (`tlsrpt.ingest.rows.dedup_key`), is
never counted twice — also once retention has removed the stored report's
rows (its key stays: `tlsrpt.store.retention`). The same key with different content is recorded as a
conflict (`report_duplicates.conflict`); the first stored report stands.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.ingest.model import (
    ACCEPTED_UNSIGNED,
    HELD,
    RECEIVER_DOMAIN,
    IngestResult,
    Outcome,
    QuarantineBudget,
    RawInput,
    SourceInfo,
    UnsignedRelease,
)
from tlsrpt.ingest.registry import StoreRegistry
from tlsrpt.ingest.rows import (
    ReportRows,
    build_rows,
    clean_text,
    naive_utc,
)
from tlsrpt.metrics import observe_ingest
from tlsrpt.report import DEFAULT_LIMITS, Deviation, Limits, ParsedInput, ReportError, parse_input
from tlsrpt.report.attribution import NO_REGISTRY, Context, Registry
from tlsrpt.report.names import parse_filename
from tlsrpt.store import blobs, budget, writer
from tlsrpt.store.engine import Store, db_reason
from tlsrpt.store.rows import DuplicateRow, RawInputRow, RawOutcome, ReportOrigin, RollupKey
from tlsrpt.store.schema import raw_inputs

# Deviations of a message that belong to no particular MIME part.
_MESSAGE_PATHS = frozenset({"message", "header"})


@dataclass(slots=True)
class Prepared:
    """One input after the part of the pipeline that needs no database
    (`prepare`): its digest, its stored form, the parse and the rows."""

    source: SourceInfo
    sha256: str
    data: bytes
    codec: str  # the stored form (`tlsrpt.store.blobs`)
    blob: bytes
    kind: str | None = None
    quarantine: tuple[str, str] | None = None  # (code, reason): nothing usable
    rows: list[ReportRows] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)  # per-report problems
    budget: QuarantineBudget | None = None

    @classmethod
    def stored(cls, raw: RawInput, sha256: str) -> Prepared:
        """An input whose bytes are stored already: it will be a copy of
        that input, so it is neither packed nor parsed (no blob)."""
        return cls(raw.source, sha256, raw.data, codec="", blob=b"", budget=raw.budget)


def prepare(
    raw: RawInput,
    limits: Limits = DEFAULT_LIMITS,
    sha256: str | None = None,
    registry: Registry = NO_REGISTRY,
) -> Prepared:
    """Digest, parse and build the rows of one input: a pure function of
    the input and what `registry` answers (the registered domains and
    their MX hosts, which attribution asks about DANE results), safe in
    any thread or process. Never raises for bad input: what cannot be
    used is marked for quarantine with the reason."""
    codec, blob = blobs.pack(raw.data)
    sha256 = sha256 or hashlib.sha256(raw.data).hexdigest()
    prep = Prepared(raw.source, sha256, raw.data, codec, blob, budget=raw.budget)
    if raw.hold:
        prep.quarantine = (HELD, raw.hold)
        return prep
    try:
        parsed = parse_input(raw.data, limits=limits)
    except ReportError as exc:
        prep.quarantine = (exc.code, f"{exc.reason} (at {exc.path})")
        return prep
    except Exception as exc:  # a parser bug must not lose the input
        prep.quarantine = ("internal-error", f"parser failed: {type(exc).__name__}: {exc}")
        return prep
    prep.kind = parsed.kind
    notes = prep.notes
    notes.extend(error.as_dict() for error in parsed.errors)
    for index, report in enumerate(parsed.reports):
        context, submitter = _context(parsed, index, raw.source, registry)
        prep.rows.append(
            build_rows(
                report,
                context=context,
                extra_deviations=_message_deviations(parsed, index),
                submitter=submitter,
            )
        )
    if not prep.rows:
        first = notes.pop(0) if notes else {"code": "no-report", "reason": "empty"}
        prep.quarantine = (first["code"], first["reason"])
    return prep


@dataclass(slots=True)
class _Item:
    """One prepared input on its way through a transaction."""

    prep: Prepared
    raw_id: int | None = None
    outcome: Outcome | None = None
    reason_code: str | None = None
    reason: str | None = None
    report_ids: list[int] = field(default_factory=list)
    new_reports: int = 0
    conflict: bool = False
    pruned: bool = False  # a report found again was one retention removed
    notes: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, prep: Prepared, raw_id: int | None = None) -> _Item:
        item = cls(prep, raw_id, notes=list(prep.notes))
        if prep.quarantine:
            item.decide("quarantined", *prep.quarantine)
        return item

    @property
    def stored_id(self) -> int:
        """`raw_id` of an input already stored."""
        assert self.raw_id is not None, "a stored input has its id"
        return self.raw_id

    def decide(self, outcome: Outcome, code: str | None = None, reason: str | None = None) -> None:
        self.outcome, self.reason_code, self.reason = outcome, code, reason

    def result(self) -> IngestResult:
        assert self.outcome is not None
        assert self.raw_id is not None or self.outcome == "refused"
        return IngestResult(
            outcome=self.outcome,
            raw_id=self.raw_id or 0,  # 0: refused, not stored
            reason=self.reason,
            reason_code=self.reason_code,
            report_ids=tuple(self.report_ids),
            conflict=self.conflict,
            warnings=tuple(f"{n['code']} at {n['path']}: {n['reason']}" for n in self.notes),
        )


def ingest(
    store: Store,
    data: bytes,
    source: SourceInfo,
    *,
    hold: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> IngestResult:
    """Store one input; returns once its outcome is committed."""
    result = ingest_batch(store, [RawInput(data, source, hold)], limits=limits)[0]
    observe_ingest(source.kind, result.outcome)  # the SMTP and IMAP receivers' (/metrics)
    return result


def ingest_batch(
    store: Store, inputs: Sequence[RawInput], *, limits: Limits = DEFAULT_LIMITS
) -> list[IngestResult]:
    """Store many inputs in one transaction; results in input order.

    If the database refuses the batch (a value it cannot hold, a roll-up
    count that would overflow), the batch is split in halves, each written
    in a transaction of its own, down to the input that is refused alone:
    that one is quarantined with the database's reason, and every other
    input is stored as it would have been without it (a few transactions
    per refused input, not one per input). Errors of the database itself
    (unreachable, disk full) propagate.
    """
    with _cyclic_gc_paused():
        digests = [hashlib.sha256(raw.data).hexdigest() for raw in inputs]
        with store.read() as conn:  # a re-import parses nothing again
            stored = writer.find_raw(conn, digests)
        pairs = list(zip(inputs, digests, strict=True))
        registry = StoreRegistry(store.read)
        try:
            return ingest_prepared(
                store,
                [
                    Prepared.stored(raw, sha)
                    if sha in stored
                    else prepare(raw, limits, sha, registry)
                    for raw, sha in pairs
                ],
            )
        except StoredInputRemoved:
            return ingest_prepared(
                store, [prepare(raw, limits, sha, registry) for raw, sha in pairs]
            )


class StoredInputRemoved(Exception):
    """An input found stored before the write transaction was removed by
    retention meanwhile: it must be parsed and stored like a new one."""


def ingest_prepared(store: Store, prepared: Sequence[Prepared]) -> list[IngestResult]:
    """`ingest_batch` for inputs already through `prepare` (pure: it may
    run in another thread or process than the write)."""
    try:
        with _cyclic_gc_paused():
            items = [_Item.of(prep) for prep in prepared]
            with store.write() as conn:
                _Batch(conn).run_new(items)
            return [item.result() for item in items]
    except (sa.exc.DBAPIError, writer.CountOverflow) as exc:
        refusal = _refusal(exc)
        if refusal is None:
            raise
        if len(prepared) == 1:
            return [_quarantine_refused(store, prepared[0], *refusal)]
    half = len(prepared) // 2  # each half is refused only if it holds a refused input
    return ingest_prepared(store, prepared[:half]) + ingest_prepared(store, prepared[half:])


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Run a batch without the cyclic garbage collector.

    A batch keeps every parsed report and its rows alive until it ends:
    tens of thousands of container objects, which the collector promotes
    and then scans again with the whole process heap in full collections
    (tens of milliseconds each once SQLAlchemy is loaded; measured at a
    fifth of the ingest time). The batch makes no reference cycles of its
    own: reference counting frees it when it returns, before collection
    resumes — so the collector does not meet it then either. Threads
    overlapping here only delay collection, never leave it off (the one
    that found it enabled enables it again).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def reprocess(
    store: Store,
    raw_ids: Sequence[int],
    *,
    limits: Limits = DEFAULT_LIMITS,
    release: UnsignedRelease | None = None,
) -> list[IngestResult]:
    """Run the pipeline again over stored quarantined inputs (after a parser
    upgrade, say). Inputs not quarantined are returned unchanged. As in
    `ingest_batch`, an input the database refuses fails alone: it stays
    quarantined, with the database's reason.

    The acceptance rule of the first ingestion applies again: an input held
    for its DKIM verdict (RFC 8460 §3, reason code `held`) stays held, on the
    verdict stored with it (DKIM is not verified again: that would need the
    sender's DNS as it is now, not as it was on arrival). Only `release`
    lets it through: it is then parsed like any input, and the release is
    recorded in its metadata (`accepted_unsigned`) in the same transaction.
    A released input the database refuses stays held: its release was not
    recorded.
    """
    try:
        return _reprocess(store, raw_ids, limits, release)
    except (sa.exc.DBAPIError, writer.CountOverflow) as exc:
        refusal = _refusal(exc)
        if refusal is None:
            raise
        if len(raw_ids) == 1:
            return [_still_quarantined(store, raw_ids[0], *refusal)]
    half = len(raw_ids) // 2
    return reprocess(store, raw_ids[:half], limits=limits, release=release) + reprocess(
        store, raw_ids[half:], limits=limits, release=release
    )


def _still_quarantined(store: Store, raw_id: int, code: str, reason: str) -> IngestResult:
    """The result of a quarantined input the database refused on retry; its
    stored reason becomes the refusal, except a held input's, which stays
    held (so no later retry without a release can let it through)."""
    with store.write() as conn:
        (row,) = writer.load_raw(conn, [raw_id])
        if row.reason_code == HELD:
            reason = f"{reason}; still held: {row.reason}"
        else:
            outcome = RawOutcome(
                outcome="quarantined",
                kind=row.kind,
                reason_code=code,
                reason=reason,
                notes=row.notes,
                processed_at=_now(),
            )
            writer.set_outcomes(conn, [(raw_id, outcome)])
    return IngestResult(outcome="quarantined", raw_id=raw_id, reason=reason, reason_code=code)


def _reprocess(
    store: Store, raw_ids: Sequence[int], limits: Limits, release: UnsignedRelease | None
) -> list[IngestResult]:
    with store.write() as conn:
        rows = writer.load_raw(conn, raw_ids)
        missing = set(raw_ids) - {r.id for r in rows}
        if missing:
            raise KeyError(f"no raw input {min(missing)}")
        items: list[_Item] = []
        registry = StoreRegistry(lambda: contextlib.nullcontext(conn))
        released: list[tuple[str, int]] = []  # (new metadata JSON, raw id)
        done: dict[int, Any] = {}  # raw id -> row of an input not quarantined: unchanged
        for row in rows:
            if row.outcome != "quarantined":
                done[row.id] = row
                continue
            meta = orjson.loads(row.source_meta) if row.source_meta else {}
            hold = None
            if row.reason_code == HELD:
                if release is None:
                    hold = row.reason or "held"
                else:
                    meta[ACCEPTED_UNSIGNED] = release.as_meta()
                    released.append((orjson.dumps(meta).decode(), row.id))
            source = SourceInfo(row.source_kind, row.source_detail, row.content_type, meta)
            raw = RawInput(blobs.unpack(row.codec, row.data), source, hold)
            items.append(_Item.of(prepare(raw, limits, registry=registry), row.id))
        _Batch(conn).process(items)
        writer.set_source_meta(conn, released)
        report_ids = writer.report_ids_of_raw(conn, list(done))
    results = {item.raw_id: item.result() for item in items}
    for _, raw_id in released:
        results[raw_id] = replace(results[raw_id], released_unsigned=True)
    for raw_id, row in done.items():
        results[raw_id] = IngestResult(
            outcome=row.outcome,
            raw_id=raw_id,
            reason=row.reason,
            reason_code=row.reason_code,
            report_ids=tuple(report_ids.get(raw_id, ())),
        )
    return [results[raw_id] for raw_id in raw_ids]


def _refusal(exc: sa.exc.DBAPIError | writer.CountOverflow) -> tuple[str, str] | None:
    """(code, reason) when the database refused what an input holds (the
    input is to blame, and quarantined); None for an error of the
    database itself."""
    if isinstance(exc, writer.CountOverflow):
        return "count-overflow", str(exc)
    if isinstance(exc, sa.exc.DataError | sa.exc.IntegrityError) or isinstance(
        exc.orig, OverflowError | ValueError | UnicodeError
    ):
        return "database-refused", f"the database refused the parsed rows: {db_reason(exc)}"
    return None


def _quarantine_refused(store: Store, prep: Prepared, code: str, reason: str) -> IngestResult:
    """Quarantine an input the database refused, charged to its quarantine
    budget like any other (refused, not stored, when over it)."""
    item = _Item(prep)
    with store.write() as conn:
        stored = writer.find_raw(conn, [prep.sha256]).get(prep.sha256)
        if stored is not None:  # stored meanwhile by another writer
            ids = writer.report_ids_of_raw(conn, [stored.id]).get(stored.id, [])
            _same_bytes(item, stored.id, stored.outcome, stored.reason, ids)
            return item.result()
        item.decide("quarantined", code, reason)
        batch = _Batch(conn)
        over = batch.charge_budgets([item]).get(prep.sha256)
        if over is not None:
            item.decide("refused", *over)
        else:
            item.raw_id = writer.next_ids(conn, raw_inputs, 1)[0]
            batch.insert_raw([item])
    return item.result()


def _now() -> str:
    return writer.db_time(datetime.now(UTC).replace(tzinfo=None))


def _context(
    parsed: ParsedInput, index: int, source: SourceInfo, registry: Registry
) -> tuple[Context, str | None]:
    """What attribution knows of report `index` besides its body, and the
    submitter header."""
    path = source.meta.get(RECEIVER_DOMAIN) if source.meta else None
    path = path if isinstance(path, str) else None
    mail = parsed.mail
    if mail is None:
        if source.kind != "file" or all(
            p.policy.policy_domain for p in parsed.reports[index].report.policies
        ):
            return Context(path=path, registry=registry), None
        name = parse_filename(PurePath(source.detail.split("#", 1)[0]).name)
        filename = name.policy_domain if name else None
        return Context(path=path, filename=filename, registry=registry), None
    part = mail.reports[index].part
    filename = part.filename_parts.policy_domain if part.filename_parts else None
    meta = mail.meta
    subject = meta.subject_parts.policy_domain if meta.subject_parts else None
    context = Context(meta.tls_report_domain, path, subject, filename, registry)
    return context, meta.tls_report_submitter


def _message_deviations(parsed: ParsedInput, index: int) -> list[Deviation]:
    if parsed.mail is None:
        return []
    location = parsed.mail.reports[index].part.location
    return [d for d in parsed.deviations if d.path in _MESSAGE_PATHS or d.path == location]


class _Batch:
    """The steps of one ingest transaction.

    Statement order inside the transaction: the raw inputs are written with
    their final outcome in one go (the parse runs first, so no second
    write of each raw row), then the report rows that point at them. Both
    commit together or not at all, so no reader ever sees one without the
    other.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.now = _now()
        self.stored_reports: dict[str, tuple[int | None, str]] = {}

    def run_new(self, items: list[_Item]) -> None:
        """Inputs as received: store the bytes of those not seen before and
        process them; settle the others as copies of the stored input."""
        stored = writer.find_raw(self.conn, [i.prep.sha256 for i in items])
        refused = self.charge_budgets([i for i in items if i.prep.sha256 not in stored])
        fresh: dict[str, _Item] = {}
        copies: list[_Item] = []
        for item in items:
            sha = item.prep.sha256
            if sha in refused:
                item.decide("refused", *refused[sha])
            elif sha in stored or sha in fresh:
                copies.append(item)
            elif not item.prep.codec:  # not parsed: it was stored when read
                raise StoredInputRemoved(sha)
            else:
                fresh[sha] = item
        new = list(fresh.values())
        for item, raw_id in zip(new, writer.next_ids(self.conn, raw_inputs, len(new)), strict=True):
            item.raw_id = raw_id
        self.process(new, stored_raw=False)
        earlier = [stored[i.prep.sha256].id for i in copies if i.prep.sha256 in stored]
        report_ids = writer.report_ids_of_raw(self.conn, earlier)
        for item in copies:
            sha = item.prep.sha256
            if sha in stored:
                row = stored[sha]
                _same_bytes(item, row.id, row.outcome, row.reason, report_ids.get(row.id, []))
            else:
                first = fresh[sha]
                assert first.raw_id is not None
                assert first.outcome is not None
                _same_bytes(item, first.raw_id, first.outcome, first.reason, first.report_ids)

    def charge_budgets(self, items: list[_Item]) -> dict[str, tuple[str, str]]:
        """Charge the inputs to be quarantined to their client's budget;
        (code, reason) of those refused, by digest (a copy in the same
        batch is refused with its first)."""
        charged: dict[str, _Item] = {}
        for item in items:
            prep = item.prep
            if prep.budget is not None and item.outcome == "quarantined":
                charged.setdefault(prep.sha256, item)
        if not charged:
            return {}
        day = datetime.now(UTC).date()
        charges = [
            budget.Charge(b.client, len(i.prep.data), b.max_inputs, b.max_bytes)
            for i in charged.values()
            if (b := i.prep.budget) is not None
        ]
        refused: dict[str, tuple[str, str]] = {}
        for (sha, item), fits in zip(
            charged.items(), budget.charge(self.conn, day, charges), strict=True
        ):
            b = item.prep.budget
            if not fits and b is not None:
                refused[sha] = (
                    "quarantine-budget",
                    f"{b.client} is over its quarantine budget for {day.isoformat()} "
                    f"({b.max_inputs} inputs, {b.max_bytes} bytes per UTC day): not stored "
                    f"(would be quarantined: {item.reason})",
                )
        return refused

    def process(self, items: list[_Item], *, stored_raw: bool = True) -> None:
        """Decide and write: new raw inputs (ids allocated) are inserted
        with their outcome; stored ones get their outcome updated."""
        plan = self._classify([i for i in items if i.outcome is None])
        if stored_raw:
            self.finish(items)
        else:
            self.insert_raw(items)
        self._write_reports(*plan)

    def insert_raw(self, items: list[_Item]) -> None:
        """The bytes, compressed, with their source and decided outcome;
        raw ids already allocated."""
        now = self.now
        rows: list[RawInputRow] = []
        for item in items:
            prep = item.prep
            assert prep.codec, "an input already stored is never written again"
            src = prep.source
            meta = orjson.dumps(dict(src.meta), default=str).decode() if src.meta else None
            assert item.raw_id is not None, "ids are allocated before the rows are built"
            outcome = self._outcome(item)
            rows.append(
                RawInputRow(
                    id=item.raw_id,
                    sha256=prep.sha256,
                    size=len(prep.data),
                    codec=prep.codec,
                    data=prep.blob,
                    source_kind=clean_text(src.kind)[:16],
                    source_detail=clean_text(src.detail),
                    content_type=clean_text(src.content_type) if src.content_type else None,
                    source_meta=clean_text(meta) if meta else None,
                    received_at=(
                        writer.db_time(naive_utc(src.received_at)) if src.received_at else now
                    ),
                    outcome=outcome.outcome,
                    kind=outcome.kind,
                    reason_code=outcome.reason_code,
                    reason=outcome.reason,
                    notes=outcome.notes,
                    processed_at=outcome.processed_at,
                )
            )
        writer.insert_raw(self.conn, rows)

    def _outcome(self, item: _Item) -> RawOutcome:
        """The outcome columns of a decided item."""
        assert item.outcome is not None
        return RawOutcome(
            outcome=item.outcome,
            kind=item.prep.kind,
            reason_code=item.reason_code,
            reason=item.reason,
            notes=orjson.dumps(item.notes).decode() if item.notes else None,
            processed_at=self.now,
        )

    def _classify(self, items: list[_Item]) -> tuple[_New, _Later]:
        """Decide each item's outcome: a report not stored yet (nor earlier
        in this batch) is new; the others are duplicates, conflicting when
        the stored content differs."""
        candidates = [(item, rows) for item in items for rows in item.prep.rows]
        stored = self.stored_reports = {
            key: (row.id, row.content_sha256)
            for key, row in writer.find_reports(
                self.conn, list({r.dedup_key for _, r in candidates})
            ).items()
        }
        new: _New = {}
        later: _Later = []
        for item, rows in candidates:
            key = rows.dedup_key
            if key in new:
                content = new[key][1].content_sha256
            elif key in stored:
                content = stored[key][1]
                item.pruned |= stored[key][0] is None
            else:
                new[key] = (item, rows)
                item.new_reports += 1
                continue
            later.append((item, rows))
            item.conflict |= content != rows.content_sha256
        for item in items:
            if item.new_reports:
                item.decide("accepted")
            elif item.conflict:
                item.decide(
                    "duplicate",
                    "conflict",
                    "a stored report has the same organization, report-id and start "
                    "but different content; the first one stands",
                )
            else:
                item.decide("duplicate", "same-report", _SAME_REPORT[item.pruned])
        return new, later

    def _write_reports(self, new: _New, later: _Later) -> None:
        """The new reports with their policy and failure rows, the
        duplicates, and the roll-up increments, summed per key first."""
        now = self.now
        ids = writer.insert_reports(
            self.conn,
            [ReportOrigin(raw_id=item.stored_id, received_at=now) for item, _ in new.values()],
            [rows.report for _, rows in new.values()],
            [rows.policies for _, rows in new.values()],
            [rows.failures for _, rows in new.values()],
        )
        rollups: dict[RollupKey, list[int]] = {}
        stored = self.stored_reports
        for (item, rows), new_pk in zip(new.values(), ids, strict=True):
            stored[rows.dedup_key] = (new_pk, rows.content_sha256)
            item.report_ids.append(new_pk)
            for key, (n, ok, failed) in rows.rollups.items():
                counts = rollups.get(key)
                if counts is None:
                    rollups[key] = [n, ok, failed]
                else:
                    counts[0] += n
                    counts[1] += ok
                    counts[2] += failed
        duplicates: dict[tuple[int, int], DuplicateRow] = {}
        for item, rows in later:
            pk, content = stored[rows.dedup_key]
            if pk is None:  # removed by retention: counted once, in the roll-ups
                continue
            conflict = content != rows.content_sha256
            item.report_ids.append(pk)
            assert item.raw_id is not None
            seen = duplicates.get((item.raw_id, pk))
            conflict |= bool(seen and seen.conflict)
            duplicates[(item.raw_id, pk)] = DuplicateRow(
                raw_id=item.raw_id,
                report_pk=pk,
                conflict=conflict,
                content_sha256=rows.content_sha256,
            )
        writer.insert_duplicates(self.conn, list(duplicates.values()))
        writer.add_rollups(self.conn, rollups)

    def finish(self, items: list[_Item]) -> None:
        """The outcome of stored raw inputs (reprocessed ones)."""
        outcomes = []
        for item in items:
            assert item.raw_id is not None, "a stored input has its id"
            outcomes.append((item.raw_id, self._outcome(item)))
        writer.set_outcomes(self.conn, outcomes)


_SAME_REPORT = {
    False: "the report is already stored",
    True: "the report is already stored (its rows since removed by retention; "
    "its counts stay in the daily roll-ups)",
}
_New = dict[str, tuple[_Item, ReportRows]]
_Later = list[tuple[_Item, ReportRows]]


def _same_bytes(
    item: _Item, raw_id: int, outcome: str, reason: str | None, report_ids: list[int]
) -> None:
    """Same bytes as a stored input: that input's outcome stands. A copy of a
    quarantined input is still quarantined; anything else is a duplicate."""
    item.raw_id = raw_id
    item.report_ids = list(report_ids)
    item.notes = []  # the stored input's outcome stands, not this copy's parse
    if outcome == "quarantined":
        item.decide(
            "quarantined", "same-bytes", f"same bytes as quarantined input {raw_id}: {reason}"
        )
    else:
        item.decide("duplicate", "same-bytes", f"same bytes as raw input {raw_id}")
