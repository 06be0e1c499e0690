"""`tlsrpt quarantine retry` and inputs held for their DKIM verdict
(RFC 8460 §3): retry applies the rule of their first ingestion
again, so they stay held unless `--accept-unsigned`, which is recorded."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tlsrpt.cli import main
from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.receive.dkim_verify import DkimVerdict, hold_reason
from tlsrpt.store.engine import open_store


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _held_inputs(db_url: str, make: Any) -> tuple[int, int, int]:
    """Two mailed reports held as a receiver holds them (no signature; a
    forged one), and a file input quarantined for its content."""
    store = open_store(db_url)
    ids = []
    for rid, verdict in (
        ("unsigned", DkimVerdict("none", reason="the message has no DKIM-Signature")),
        ("forged", DkimVerdict("fail", "org.example", "s1", True, "body hash mismatch")),
    ):
        source = SourceInfo("smtp", f"{rid} <r@org.example>", "message/rfc822", verdict.as_meta())
        hold = hold_reason(verdict, accept_unsigned=False)
        ids.append(ingest(store, make.json(rid), source, hold=hold).raw_id)
    ids.append(ingest(store, b"{not json", SourceInfo("file", "/in/bad.json")).raw_id)
    store.close()
    return ids[0], ids[1], ids[2]


def test_retry_keeps_dkim_held_inputs_held(
    db_url: str, make: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    unsigned, forged, bad = _held_inputs(db_url, make)
    for argv in ([str(unsigned)], ["--all"]):
        code, out, err = _run(capsys, "quarantine", "retry", *argv, "--db", db_url)
        assert code == 1
        assert f"raw input {unsigned}: quarantined: no acceptable DKIM signature: none" in out
        assert "0 released" in out
        assert "--accept-unsigned" in err
        assert "not verified again" in err
    code, out, _ = _run(capsys, "quarantine", "retry", "--all", "--db", db_url, "--json")
    assert code == 1
    results = orjson.loads(out)["results"]
    assert [(r["raw_id"], r["outcome"], r["reason_code"]) for r in results] == [
        (unsigned, "quarantined", "held"),
        (forged, "quarantined", "held"),
        (bad, "quarantined", "json-invalid"),
    ]
    assert not any(r["released_unsigned"] for r in results)
    _, out, _ = _run(capsys, "summary", "--db", db_url, "--json")
    assert orjson.loads(out)["domains"] == []  # nothing counted


def test_accept_unsigned_releases_and_records_who_and_when(
    db_url: str, make: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    unsigned, forged, bad = _held_inputs(db_url, make)
    before = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    code, out, _ = _run(
        capsys, "quarantine", "retry", str(unsigned), "--accept-unsigned", "--db", db_url, "--json"
    )
    after = datetime.now(UTC).replace(tzinfo=None)
    assert code == 0
    (result,) = orjson.loads(out)["results"]
    assert (result["outcome"], result["released_unsigned"]) == ("accepted", True)
    assert len(result["report_ids"]) == 1

    _, out, _ = _run(capsys, "quarantine", "show", str(unsigned), "--db", db_url, "--json")
    shown = orjson.loads(out)
    assert shown["outcome"] == "accepted"
    record = shown["source_meta"]["accepted_unsigned"]
    assert record["by"] == getpass.getuser()
    assert record["how"] == "quarantine retry --accept-unsigned"
    at = datetime.fromisoformat(record["at"].removesuffix("Z"))
    assert before <= at <= after
    assert shown["source_meta"]["dkim"] == "none"  # the verdict stays as it was

    # The other held input was not named: still held; --all releases it.
    _, out, _ = _run(capsys, "quarantine", "show", str(forged), "--db", db_url, "--json")
    assert orjson.loads(out)["reason_code"] == "held"
    code, out, _ = _run(capsys, "quarantine", "retry", "--all", "--accept-unsigned", "--db", db_url)
    assert code == 1  # the broken file stays quarantined
    assert f"raw input {forged}: accepted (DKIM hold lifted by {getpass.getuser()})" in out
    assert "1 released, 1 still quarantined" in out
    _, out, _ = _run(capsys, "quarantine", "show", str(bad), "--db", db_url, "--json")
    assert "accepted_unsigned" not in orjson.loads(out)["source_meta"]  # nothing was held
