"""Crash safety and concurrency of `tlsrpt import`, with real processes.

- SIGKILL an import at random moments, again and again, then let one run to
  the end: the database equals a clean import (nothing lost, nothing twice).
- Two imports of the same inputs at once into one database: neither fails,
  each report is accepted exactly once, the database equals a clean import.

The child processes run the real CLI entry point (`tlsrpt.cli.main`) with
only the import command registered, so that they start in half a second.
"""

from __future__ import annotations

import gzip
import mailbox
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from tlsrpt.store.engine import open_store
from tlsrpt.store.url import normalize_url

CHILD = (
    "import sys\n"
    "from tlsrpt.cli import COMMAND_MODULES, main\n"
    "COMMAND_MODULES[:] = ['import_']\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
BATCH = "10"  # small transactions: many commit points to die between


def _import(inputs: Path, db_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            "import",
            str(inputs),
            "--db",
            db_url,
            "--batch-size",
            BATCH,
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _report(n: int, *, ok: int | None = None) -> bytes:
    return orjson.dumps(
        {
            "organization-name": f"Org {n % 5}",
            "date-range": {
                "start-datetime": f"2024-04-{n % 28 + 1:02d}T00:00:00Z",
                "end-datetime": f"2024-04-{n % 28 + 1:02d}T23:59:59Z",
            },
            "contact-info": "tls@org.example",
            "report-id": f"crash-{n}",
            "policies": [
                {
                    "policy": {"policy-type": "sts", "policy-domain": f"d{n % 9}.example"},
                    "summary": {
                        "total-successful-session-count": n if ok is None else ok,
                        "total-failure-session-count": n % 4,
                    },
                    "failure-details": [
                        {
                            "result-type": "certificate-expired",
                            "sending-mta-ip": f"192.0.2.{n % 250 + 1}",
                            "receiving-mx-hostname": "mx.example",
                            "failed-session-count": n % 4,
                        }
                    ]
                    if n % 4
                    else [],
                }
            ],
        }
    )


def _mail(body: bytes) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "Report Domain: d1.example Submitter: org.example Report-ID: <x@org.example>"
    msg.set_content("report")
    msg.add_attachment(
        gzip.compress(body), maintype="application", subtype="tlsrpt+gzip", filename="r.json.gz"
    )
    return msg


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash-inputs")
    for n in range(250):
        body = _report(n)
        name = root / f"r{n:04d}.json"
        if n % 3:
            name.write_bytes(body)
        else:
            name.with_suffix(".json.gz").write_bytes(gzip.compress(body, mtime=0))
    for n in range(0, 60, 2):  # byte copies and re-encoded copies
        (root / f"copy{n:04d}.json").write_bytes(_report(n * 5 + 1))
        (root / f"again{n:04d}.json.gz").write_bytes(gzip.compress(_report(n * 5 + 2), mtime=1))
    for n in range(10):  # same report-id, other content
        (root / f"zz-conflict{n}.json").write_bytes(_report(n, ok=10_000))
    for n in range(10):
        (root / f"junk{n}.json").write_bytes(os.urandom(64 + n).replace(b"{", b"x"))
    box = mailbox.mbox(root / "inbox.mbox")
    for n in range(250, 270):
        box.add(_mail(_report(n)))
    box.close()
    return root


def _clean(corpus: Path, db_url: str) -> dict[str, Any]:
    child = _import(corpus, db_url)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 1, err.decode()  # the junk is quarantined
    return orjson.loads(out)


def _stored(engine: sa.Engine) -> int:
    """Committed raw inputs (0 before the schema exists)."""
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT COUNT(*) FROM raw_inputs").scalar_one())
    except sa.exc.DBAPIError:
        return 0


def test_sigkill_at_random_points_loses_nothing_and_counts_nothing_twice(
    corpus: Path, db_url: str, tmp_path: Path, take_snapshot: Callable[..., Any]
) -> None:
    """Kill points: one at a random moment of start-up (schema creation
    included), then five at random amounts of progress: the child is
    killed right after the database shows that many inputs committed, at
    most a third of the rest further each time."""
    reference_url = f"sqlite:///{tmp_path / 'reference.sqlite3'}"
    _clean(corpus, reference_url)
    with open_store(reference_url) as reference:
        expected = take_snapshot(reference)
    total = len(expected["raw"])

    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    watcher = sa.create_engine(normalize_url(db_url))
    kills = []
    for attempt in range(6):
        child = _import(corpus, db_url)
        if attempt == 0:
            # A random moment of start-up, before the first commit: the
            # whole import takes less than that window on a fast machine.
            until = time.monotonic() + rng.uniform(0.0, 0.6)
            while child.poll() is None and time.monotonic() < until and not _stored(watcher):
                time.sleep(0.001)
        else:
            done = _stored(watcher)  # kill within the next third of the rest
            # At most everything: once all is committed (an earlier child died
            # writing its output), a higher target would never be reached
            # while this child blocks on its full stdout pipe.
            target = min(total, rng.randint(done + 1, done + max(1, (total - done) // 3)))
            while child.poll() is None and _stored(watcher) < target:
                time.sleep(0.001)
            # A few batches at most: the import commits a batch of 10 in about
            # a millisecond, a longer pause would let it run to the end.
            time.sleep(rng.uniform(0.0, 0.003))
        child.send_signal(signal.SIGKILL)
        child.wait()
        kills.append((child.returncode, _stored(watcher)))
    watcher.dispose()
    partial = [n for code, n in kills if code == -signal.SIGKILL and 0 < n < total]
    assert len(partial) >= 2, f"kills {kills} of {total} (seed {seed})"

    final = _clean(corpus, db_url)
    assert final["quarantined"] == 10  # the junk, again (copies of quarantined bytes)
    with open_store(db_url) as store:
        assert take_snapshot(store) == expected, f"kills {kills} (seed {seed})"


def test_two_concurrent_imports_neither_fail_nor_double_count(
    corpus: Path, db_url: str, tmp_path: Path, take_snapshot: Callable[..., Any]
) -> None:
    reference_url = f"sqlite:///{tmp_path / 'reference.sqlite3'}"
    clean = _clean(corpus, reference_url)
    reference = open_store(reference_url)
    expected = take_snapshot(reference)
    reference.close()

    first, second = _import(corpus, db_url), _import(corpus, db_url)  # also race the migration
    results = []
    for child in (first, second):
        out, err = child.communicate(timeout=120)
        assert child.returncode == 1, err.decode()
        assert b"error" not in err
        results.append(orjson.loads(out))
    assert results[0]["accepted"] + results[1]["accepted"] == clean["accepted"]
    for outcome in ("accepted", "duplicate", "quarantined"):
        assert all(
            sum(1 for i in r["inputs"] if i["outcome"] == outcome) == r[outcome] for r in results
        )
    with open_store(db_url) as store:
        assert take_snapshot(store) == expected
