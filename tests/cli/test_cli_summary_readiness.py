"""`tlsrpt summary` shows each domain's MTA-STS enforce readiness: a verdict
column and a line per domain for people, the API's readiness object per
domain in `--json`, as of `--until` and never depending on `--since`."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import orjson
import pytest
from cli_harness import cli

from tlsrpt.demo import load_demo
from tlsrpt.store.engine import open_store
from tlsrpt.store.readiness_reads import domain_readiness

END = date(2026, 11, 28)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("summary") / "demo.sqlite3"
    url = f"sqlite:///{path}"
    store = open_store(url)
    load_demo(store, END, 60)
    store.close()
    return url


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, dict[str, object]]:
    result = cli(capsys, "summary", "--json", *argv)
    assert result.status == 0, result.err
    body = orjson.loads(result.out)
    return {d["domain"]: d for d in body["domains"]}


def test_summary_json_carries_the_readiness_object(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    domains = _json(capsys, "--db", db, "--until", str(END))
    store = open_store(db)
    with store.read() as conn:
        for name, item in domains.items():
            expected = domain_readiness(conn, name, END).as_dict()
            assert item["readiness"] == orjson.loads(orjson.dumps(expected)), name
    store.close()
    verdicts = {name: item["readiness"]["verdict"] for name, item in domains.items()}  # type: ignore[index]
    assert verdicts == {
        "example.com": "ready",
        "legacy.example.de": "insufficient-data",
        "mail.example.org": "ready",
        "new.example.io": "insufficient-data",
        "shop.example.net": "not-ready",
    }
    fixed = domains["mail.example.org"]["readiness"]
    assert fixed["clean_since"] == str(END - timedelta(days=24))  # type: ignore[index]
    reasons = fixed["reasons"]  # type: ignore[index]
    assert all(set(r) == {"check", "passed", "text", "value", "threshold"} for r in reasons)
    policy = domains["example.com"]["readiness"]["enforce_policy"]  # type: ignore[index]
    assert policy["records"] == [
        {"name": "_mta-sts.example.com", "type": "TXT", "value": "v=STSv1; id=20261128enforce"}
    ]


def test_the_verdict_does_not_depend_on_since(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    whole = _json(capsys, "--db", db, "--until", str(END))
    for days in (7, 14, 30):
        since = str(END - timedelta(days=days - 1))
        narrow = _json(capsys, "--db", db, "--since", since, "--until", str(END))
        for name, item in narrow.items():
            assert item["readiness"] == whole[name]["readiness"], (days, name)
        assert narrow["example.com"]["reports"] == 3 * days  # the table does change


def test_summary_prints_a_verdict_column_and_the_reason(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "summary", "--db", db, "--until", str(END))
    assert result.status == 0
    header, *rows = result.out.split("\n\n")[0].splitlines()
    assert header.split("\t")[-1] == "verdict"
    column = {row.split("\t")[0]: row.split("\t")[-1] for row in rows}
    assert column["shop.example.net"] == "not-ready"
    assert column["legacy.example.de"] == "insufficient-data"
    assert (
        "\nshop.example.net\n  MTA-STS enforce: not-ready: last failure that enforce would have "
        "turned into lost mail on 2026-11-28: certificate-expired" in result.out
    )
    assert "\nmail.example.org\n  MTA-STS enforce: ready, clean since 2026-11-04\n" in result.out
    assert (
        "\nlegacy.example.de\n  MTA-STS enforce: insufficient-data: no sessions under an MTA-STS"
        in (result.out)
    )
