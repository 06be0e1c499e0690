"""`tlsrpt watch --once` and `tlsrpt history` against the lab: a domain is
checked, the lab changes (the MX certificate is renewed, an MX is added,
the policy changes but its id does not), and the history shows exactly
that."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from checklab.https_server import HttpAnswer
from checklab.pki import CertKind
from checklab.zones import DomainSpec, MxSpec, PolicySpec

from tlsrpt.store.engine import open_store
from tlsrpt.store.schema import watch_snapshots

RunCli = Callable[..., Any]  # conftest.run_cli


def _policy(*hosts: str) -> HttpAnswer:
    lines = ["version: STSv1", "mode: enforce", *(f"mx: {h}" for h in hosts), "max_age: 86400"]
    return HttpAnswer(body=("\n".join(lines) + "\n").encode())


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _history(run_cli: RunCli, db: str, domain: str) -> dict[str, Any]:
    run = run_cli("history", domain, "--db", db, "--json")
    assert run.status == 0, run.stderr
    return json.loads(run.stdout)


def _snapshot_rows(db: str, domain: str) -> list[Any]:
    store = open_store(db)
    try:
        with store.read() as conn:
            query = (
                sa.select(watch_snapshots)
                .where(watch_snapshots.c.domain == domain)
                .order_by(watch_snapshots.c.id)
            )
            return list(conn.execute(query))
    finally:
        store.close()


def test_history_shows_what_changed_in_the_lab(
    live_lab: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    lab = live_lab.lab
    domain = live_lab.name("hist")
    mx1, mx2 = f"mx1.{domain}", f"mx2.{domain}"
    now = dt.datetime.now(dt.UTC)
    lab.pki.reissue(mx1, now + dt.timedelta(days=90))
    live_lab.add(DomainSpec(domain, mx=(MxSpec(mx1),), policy=PolicySpec(answer=_policy(mx1))))
    db = f"sqlite:///{tmp_path / 'watch.db'}"
    assert run_cli("domain", "add", domain, "--db", db).status == 0
    watch = ("watch", "--once", "--db", db, *live_lab.cli_args())

    first = run_cli(*watch, "--json")
    assert first.status == 0, first.stderr
    line, summary = _json_lines(first.stdout)  # one line per check, then the summary
    assert summary["summary"]["seconds"] > 0
    assert summary == {
        "summary": {
            "domains": 1,
            "changed": 0,
            "errors": 0,
            "lease_lost": 0,
            "alerts": {"firing": 0, "new": 0, "resolved": 0},
            "seconds": summary["summary"]["seconds"],
        }
    }
    assert (line["domain"], line["first"], line["changes"], line["error"]) == (
        domain,
        True,
        [],
        None,
    )
    assert line["findings"] == {"error": 0, "warning": 0, "info": 0}

    again = run_cli(*watch, "--json")
    line, _ = _json_lines(again.stdout)
    assert (line["first"], line["new_state"], line["changes"]) == (False, False, [])
    (row,) = _snapshot_rows(db, domain)  # the same state: one row, seen twice
    assert row.checks == 2 and row.first_seen_at < row.last_seen_at

    # The lab changes: a renewed MX certificate, a second MX, the policy
    # lists it but its id stays the same.
    renewed_until = now + dt.timedelta(days=400)
    lab.pki.reissue(mx1, renewed_until)
    lab.zones.add(domain, "MX", f"20 {mx2}.")
    lab.zones.add_mx_host(MxSpec(mx2, preference=20), lab.pki, lab.smtp_certs)
    live_lab.publish()
    lab.https.serve(f"mta-sts.{domain}", _policy(mx1, mx2), CertKind.VALID)

    changed = run_cli(*watch)
    # The id did not change with the policy, and the MX set changed: alerts.
    assert changed.status == 1, changed.stderr
    firing = json.loads(run_cli("alerts", "list", "--db", db, "--json").stdout)["alerts"]
    assert sorted(a["rule"] for a in firing) == [
        "mx-set-changed",
        "sts-policy-changed-without-id-change",
    ]
    expires = renewed_until.strftime("%Y-%m-%d")
    assert f"certificate of {mx1} renewed, expires {expires}" in changed.stdout
    assert f"{mx2} added (preference 20)" in changed.stdout
    assert "MTA-STS policy changed, id unchanged (mx added " + mx2 in changed.stdout
    assert "1 domain(s) checked in " in changed.stdout
    assert "s: 1 with changes, 0 failed; 2 alert(s) firing (2 new, 0 resolved)" in changed.stdout

    history = _history(run_cli, db, domain)
    latest, oldest = history["timeline"]
    kinds = {c["kind"]: c for c in latest["changes"]}
    assert set(kinds) == {
        "certificate-renewed",
        "mx-added",
        "mx-set-changed",
        "sts-policy-changed-without-id-change",
    }
    assert kinds["certificate-renewed"]["subject"] == mx1
    assert kinds["certificate-renewed"]["details"]["after"]["not_after"].startswith(expires)
    assert kinds["mx-set-changed"]["details"]["covered"] is True
    assert (oldest["first"], oldest["changes"], oldest["checks"]) == (True, [], 2)
    current = history["current"]
    assert [m["host"] for m in current["mx"]] == [mx1, mx2]
    assert current["policy"]["mx"] == [mx1, mx2]
    assert history["schedule"]["last_error"] is None

    text = run_cli("history", domain, "--db", db)
    assert text.status == 0
    assert f"certificate of {mx1} renewed, expires {expires}" in text.stdout
    assert "first check, seen 2 times" in text.stdout
