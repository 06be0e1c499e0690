"""Drift alerts against the lab: a domain hosted with `tlsrpt mta-sts init`
whose DNS still names another id and whose policy host serves another
policy fires `sts-record-id-stale` and `sts-policy-not-served`; once the
record names the hosted id and the host serves the hosted text byte for
byte, both resolve."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from checklab.https_server import HttpAnswer
from checklab.pki import CertKind
from checklab.zones import DomainSpec, MxSpec, PolicySpec, txt_rdata

RunCli = Callable[..., Any]  # conftest.run_cli


def _firing(run_cli: RunCli, db: str) -> dict[str, dict[str, Any]]:
    run = run_cli("alerts", "list", "--db", db, "--json")
    assert run.status == 0, run.stderr
    return {a["rule"]: a for a in json.loads(run.stdout)["alerts"] if a["state"] == "firing"}


def test_drift_fires_and_resolves(live_lab: Any, run_cli: RunCli, tmp_path: Path) -> None:
    lab = live_lab.lab
    domain = live_lab.name("drift")
    mx = f"mx1.{domain}"
    live_lab.add(DomainSpec(domain, mx=(MxSpec(mx),), policy=PolicySpec(mode="testing")))
    db = f"sqlite:///{tmp_path / 'drift.db'}"
    assert run_cli("domain", "add", domain, "--db", db).status == 0
    init = run_cli("mta-sts", "init", domain, "--mx", mx, "--db", db, "--json")
    assert init.status == 0, init.stderr
    policy = json.loads(init.stdout)["policy"]
    watch = ("watch", "--once", "--db", db, *live_lab.cli_args())

    # The lab publishes its own id and policy: both drift.
    run_cli(*watch)
    firing = _firing(run_cli, db)
    stale = firing["sts-record-id-stale"]
    assert stale["subject"] == f"_mta-sts.{domain}"
    assert (
        "names id 20240501T000000; the hosted policy's current version 1 has id "
        in (stale["summary"])
    )
    served = firing["sts-policy-not-served"]
    assert served["subject"] == f"mta-sts.{domain}"
    assert served["severity"] == "warning"  # the same mode and mx; max_age and bytes differ

    # Published as hosted: the record names the id, the host serves the text.
    live_lab.replace(f"_mta-sts.{domain}", "TXT", txt_rdata(f"v=STSv1; id={policy['id']}"))
    lab.https.serve(f"mta-sts.{domain}", HttpAnswer(body=policy["text"].encode()), CertKind.VALID)
    run_cli(*watch)
    firing = _firing(run_cli, db)
    assert "sts-record-id-stale" not in firing
    assert "sts-policy-not-served" not in firing

    # Another server answers for the policy host with enforce: an error.
    other = policy["text"].replace("mode: testing", "mode: enforce")
    lab.https.serve(f"mta-sts.{domain}", HttpAnswer(body=other.encode()), CertKind.VALID)
    run_cli(*watch)
    served = _firing(run_cli, db)["sts-policy-not-served"]
    assert served["severity"] == "error"
    assert "mode enforce served, testing hosted" in served["summary"]
