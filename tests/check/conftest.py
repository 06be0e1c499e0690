"""Fixtures for the checker tests: the lab (see checklab/) started once per
session, and `tlsrpt check` run in-process against it."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

# checklab is a helper package next to the tests (also used by benchmarks/check.py).
sys.path.insert(0, str(Path(__file__).parent))

from checklab.lab import Lab
from checklab.scenarios import add_scenarios, scenario_specs

import tlsrpt.cli

# Policy fetches in the lab answer within milliseconds; the "slow" policy
# server waits 8 s, so a 4 s timeout still fails it and leaves room for a
# busy machine (the lab's servers share this process with the checker).
TIMEOUT = "4"


@dataclass
class CliRun:
    status: int
    stdout: str
    stderr: str

    def reports(self) -> dict[str, dict[str, Any]]:
        return {
            report["domain"]: report
            for report in (json.loads(line) for line in self.stdout.splitlines() if line)
        }


def run_check(*args: str, stdin: str | None = None) -> CliRun:
    """`tlsrpt check ARGS` in this process; stdout and stderr captured."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    saved_in = sys.stdin
    try:
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        # Only this command is registered: the checker's tests must not depend on
        # the import health of the other command modules.
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            mock.patch.object(tlsrpt.cli, "COMMAND_MODULES", ["check"]),
        ):
            try:
                status = tlsrpt.cli.main(["check", *args])
            except SystemExit as exc:  # argparse's own errors, as the entry point exits
                status = int(exc.code or 0)
    finally:
        sys.stdin = saved_in
    out.flush()
    err.flush()
    return CliRun(
        status,
        out.buffer.getvalue().decode("utf-8"),  # type: ignore[attr-defined]
        err.buffer.getvalue().decode("utf-8"),  # type: ignore[attr-defined]
    )


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("checklab"))
    add_scenarios(lab)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


@dataclass
class BulkRun:
    run: CliRun
    reports: dict[str, dict[str, Any]]
    provider_handshakes: int


@pytest.fixture(scope="session")
def bulk(lab: Lab) -> BulkRun:
    """Every scenario domain in one concurrent run, as JSON Lines."""
    before = lab.smtp["starttls"].handshakes["mx.provider.lab.test"]
    domains = [spec.domain for spec in scenario_specs()]
    run = run_check(
        *lab.cli_args(), "--timeout", TIMEOUT, "--concurrency", "30", "--json", *domains
    )
    handshakes = lab.smtp["starttls"].handshakes["mx.provider.lab.test"] - before
    return BulkRun(run, run.reports(), handshakes)
