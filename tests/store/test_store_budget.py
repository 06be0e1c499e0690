"""The quarantine budget in the ingest pipeline (tlsrpt.store.budget), on
SQLite and PostgreSQL: inputs that would be quarantined are charged to
their client's counter for the UTC day, refused and not stored past it;
valid reports never count."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from tlsrpt.cli import main
from tlsrpt.ingest.model import QuarantineBudget, RawInput, SourceInfo
from tlsrpt.ingest.pipeline import ingest_batch
from tlsrpt.store import budget
from tlsrpt.store.engine import Store
from tlsrpt.store.schema import raw_inputs

HTTP = SourceInfo("http", "192.0.2.7:40000")


def _raw(data: bytes, client: str = "192.0.2.7", inputs: int = 2, size: int = 10**6) -> RawInput:
    return RawInput(data, HTTP, budget=QuarantineBudget(client, inputs, size))


def _stored(store: Store) -> list[tuple[str, str]]:
    with store.read() as conn:
        rows = conn.execute(
            sa.select(raw_inputs.c.outcome, raw_inputs.c.reason_code).order_by(raw_inputs.c.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _today(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        return budget.usage(conn, datetime.now(UTC).date())


def test_over_budget_inputs_are_refused_and_not_stored(store: Store, make: Any) -> None:
    results = ingest_batch(store, [_raw(b"garbage 1"), _raw(b"garbage 2")])
    assert [r.outcome for r in results] == ["quarantined", "quarantined"]
    (third,) = ingest_batch(store, [_raw(b"garbage 3")])
    assert (third.outcome, third.reason_code, third.raw_id) == ("refused", "quarantine-budget", 0)
    assert third.reason is not None
    assert "192.0.2.7 is over its quarantine budget" in third.reason
    # a valid report from the same client is stored whatever its budget
    (good,) = ingest_batch(store, [_raw(make.json("valid"))])
    assert good.outcome == "accepted"
    # the same bytes as a quarantined input are not stored again: no charge
    (again,) = ingest_batch(store, [_raw(b"garbage 1")])
    assert (again.outcome, again.reason_code) == ("quarantined", "same-bytes")
    # another client has a budget of its own
    (other,) = ingest_batch(store, [_raw(b"garbage 3", client="198.51.100.1")])
    assert other.outcome == "quarantined"
    assert [outcome for outcome, _ in _stored(store)] == [
        "quarantined",
        "quarantined",
        "accepted",
        "quarantined",
    ]
    day = datetime.now(UTC).date().isoformat()
    assert _today(store) == [
        {
            "day": day,
            "client": "192.0.2.7",
            "inputs": 2,
            "bytes": 18,
            "refused_inputs": 1,
            "refused_bytes": 9,
        },
        {
            "day": day,
            "client": "198.51.100.1",
            "inputs": 1,
            "bytes": 9,
            "refused_inputs": 0,
            "refused_bytes": 0,
        },
    ]


def test_bytes_budget_and_one_batch(store: Store) -> None:
    """In one transaction: charged in order; a copy of a refused input in
    the same batch is refused with it; inputs without budget are not counted."""
    big, small = b"x" * 600, b"y" * 300
    results = ingest_batch(
        store,
        [
            _raw(big, inputs=10, size=1000),
            _raw(b"z" * 600, inputs=10, size=1000),  # 1200 > 1000
            _raw(b"z" * 600, inputs=10, size=1000),  # its copy
            _raw(small, inputs=10, size=1000),  # 900 fits
            RawInput(b"no budget", SourceInfo("file", "/x")),
        ],
    )
    assert [r.outcome for r in results] == [
        "quarantined",
        "refused",
        "refused",
        "quarantined",
        "quarantined",
    ]
    (row,) = _today(store)
    assert (row["inputs"], row["bytes"], row["refused_inputs"], row["refused_bytes"]) == (
        2,
        900,
        1,
        600,
    )
    assert len(_stored(store)) == 3


_OTHER_PROCESS = """
import sys
from tlsrpt.ingest.model import QuarantineBudget, RawInput, SourceInfo
from tlsrpt.ingest.pipeline import ingest_batch
from tlsrpt.store.engine import Store
store = Store(sys.argv[1])
raw = RawInput(sys.argv[2].encode(), SourceInfo("http", "p"), budget=QuarantineBudget("c", 1, 10**6))
print(ingest_batch(store, [raw])[0].outcome)
store.close()
"""


def test_counters_survive_restart_and_are_shared_across_processes(
    store: Store, db_url: str
) -> None:
    assert ingest_batch(store, [_raw(b"one", client="c", inputs=1)])[0].outcome == "quarantined"
    store.close()
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, db_url, "two"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "refused"
    with Store(db_url) as restarted:
        (third,) = ingest_batch(restarted, [_raw(b"three", client="c", inputs=1)])
        assert third.outcome == "refused"
        (row,) = _today(restarted)
    assert (row["inputs"], row["refused_inputs"]) == (1, 2)


def test_quarantine_list_shows_todays_budget(
    store: Store, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest_batch(store, [_raw(b"bad 1", inputs=1), _raw(b"bad 22", inputs=1)])
    capsys.readouterr()
    assert main(["quarantine", "list", "--db", db_url, "--json"]) == 0
    listed = orjson.loads(capsys.readouterr().out)
    assert listed["budget_today"] == {
        "inputs": 1,
        "bytes": 5,
        "refused_inputs": 1,
        "refused_bytes": 6,
    }
    assert main(["quarantine", "list", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "HTTP quarantine budget today (UTC): 1 inputs (5 bytes) quarantined, 1 refused" in out
