"""The storing commands end to end: import, summary, reports, quarantine, db."""

from __future__ import annotations

import gzip
import mailbox
import socket
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import pytest

from tlsrpt.cli import main
from tlsrpt.report import parse_report, report_to_dict
from tlsrpt.store.migrate import head_revision


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        status = main(list(argv))
    except SystemExit as exc:  # argparse refusing an argument
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 0) -> Any:
    code, out, err = _run(capsys, *argv, "--json")
    assert code == status, err
    return orjson.loads(out)


def _mail(body: bytes, name: str = "report.json.gz") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "noreply@org.example"
    msg["Subject"] = "Report Domain: example.com Submitter: org.example Report-ID: <x@org.example>"
    msg["TLS-Report-Domain"] = "example.com"
    msg["TLS-Report-Submitter"] = "org.example"
    msg.set_content("report attached")
    msg.add_attachment(
        gzip.compress(body), maintype="application", subtype="tlsrpt+gzip", filename=name
    )
    return msg


@pytest.fixture
def inbox(tmp_path: Path, make: Any) -> Path:
    """A directory tree with every supported kind of input."""
    root = tmp_path / "inbox"
    (root / "json" / "deeper").mkdir(parents=True)
    (root / "json" / "a.json").write_bytes(make.json("a"))
    (root / "json" / "deeper" / "b.json.gz").write_bytes(gzip.compress(make.json("b")))
    (root / "json" / "c.gz").write_bytes(gzip.compress(make.json("c")))
    (root / "json" / "README.md").write_text("not a report\n")
    (root / "d.eml").write_bytes(_mail(make.json("d")).as_bytes())
    box = mailbox.mbox(root / "reports.mbox")
    for rid in ("e", "f"):
        box.add(_mail(make.json(rid)))
    box.close()
    maildir = mailbox.Maildir(root / "Maildir")
    maildir.add(_mail(make.json("g")))
    maildir.add_folder("Archive").add(_mail(make.json("h")))
    maildir.close()
    return root


def test_import_every_kind_of_input(
    inbox: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    code, out, err = _run(capsys, "import", str(inbox), "--db", db)
    assert code == 0, out + err
    assert (
        out.splitlines()[-1]
        == "8 accepted, 0 duplicate, 0 quarantined; 1 other files skipped (-v lists them)"
    )
    assert err == ""  # no progress bar when stderr is not a terminal
    again = _json(capsys, "import", str(inbox), "--db", db, "-v")
    assert (again["accepted"], again["duplicate"], again["quarantined"]) == (0, 8, 0)
    assert {i["source"].rsplit("#", 1)[-1] for i in again["inputs"] if ".mbox" in i["source"]} == {
        "1",
        "2",
    }
    listed = _json(capsys, "reports", "list", "--db", db)["reports"]
    assert sorted(r["report_id"] for r in listed) == list("abcdefgh")


def test_import_quarantines_and_exits_1(
    tmp_path: Path, make: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "good.json").write_bytes(make.json("good"))
    (tmp_path / "in" / "empty.json").write_bytes(b"")
    (tmp_path / "in" / "trunc.json.gz").write_bytes(gzip.compress(make.json("t"))[:-9])
    code, out, _ = _run(capsys, "import", str(tmp_path / "in"), "--db", db)
    assert code == 1
    assert "quarantined: " + str(tmp_path / "in" / "empty.json") + ": no bytes to parse" in out
    assert "gzip stream ends before its end marker" in out
    assert out.splitlines()[-1] == "1 accepted, 0 duplicate, 2 quarantined"

    listed = _json(capsys, "quarantine", "list", "--db", db)["quarantined"]
    assert [(q["reason_code"], Path(q["source_detail"]).name) for q in listed] == [
        ("empty-input", "empty.json"),
        ("gzip-truncated", "trunc.json.gz"),
    ]
    shown = _json(capsys, "quarantine", "show", str(listed[1]["id"]), "--db", db)
    assert shown["reason"].startswith("gzip stream ends")
    code, out, _ = _run(capsys, "quarantine", "show", str(listed[1]["id"]), "--db", db)
    assert "(" in out and "bytes of gzip data)" in out

    out_dir = tmp_path / "export"
    out_dir.mkdir()
    written = _json(capsys, "quarantine", "export", "--all", "-o", str(out_dir), "--db", db)[
        "written"
    ]
    assert [Path(w["path"]).name for w in written] == [
        f"raw-{listed[0]['id']}.bin",
        f"raw-{listed[1]['id']}.json.gz",
    ]
    assert Path(written[1]["path"]).read_bytes() == (tmp_path / "in" / "trunc.json.gz").read_bytes()
    code, _, err = _run(capsys, "quarantine", "export", "--all", "-o", str(out_dir), "--db", db)
    assert code == 2
    assert "exists (use --force to overwrite)" in err

    retried = _json(capsys, "quarantine", "retry", "--all", "--db", db, status=1)["results"]
    assert [r["outcome"] for r in retried] == ["quarantined", "quarantined"]
    code, _, err = _run(capsys, "quarantine", "retry", "--db", db)
    assert (code, err.strip()) == (2, "error: give raw input numbers or --all (not both)")


def test_export_to_stdout(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\x00\x01binary")
    assert main(["import", str(bad), "--db", db]) == 1
    capsysbinary.readouterr()
    assert main(["quarantine", "export", "1", "-o", "-", "--db", db]) == 0
    assert capsysbinary.readouterr().out == b"\x00\x01binary"


def test_reports_show_gives_back_the_normalized_report(
    tmp_path: Path, make: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    body = make.json(
        "shown",
        policies=[
            make.policy(ok=3, failed=2, failures=[make.failure(count=2)]),
            make.policy("other.example", "sts", ok=1),
        ],
    )
    path = tmp_path / "r.json"
    path.write_bytes(body)
    assert _json(capsys, "import", str(path), "--db", db)["accepted"] == 1
    shown = _json(capsys, "reports", "show", "1", "--db", db)
    assert shown["report"] == report_to_dict(parse_report(body).report)
    assert shown["domains"] == ["example.com", "other.example"]
    assert shown["raw_input"]["source_detail"] == str(path)
    code, out, _ = _run(capsys, "reports", "show", "1", "--db", db)
    assert code == 0
    assert "policy sts other.example: 1 successful, 0 failed" in out
    assert "certificate-expired" in out
    code, _, err = _run(capsys, "reports", "show", "99", "--db", db)
    assert (code, err.strip()) == (1, "no report 99")
    only = _json(capsys, "reports", "list", "--domain", "other.example", "--db", db)["reports"]
    assert [r["report_id"] for r in only] == ["shown"]


def test_summary_human_output(
    tmp_path: Path, make: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    assert _run(capsys, "db", "upgrade", "--db", db)[0] == 0
    code, out, _ = _run(capsys, "summary", "--db", db)
    assert (code, out.strip()) == (0, "no reports stored")
    path = tmp_path / "r.json"
    path.write_bytes(
        make.json(policies=[make.policy(ok=75, failed=25, failures=[make.failure(count=25)])])
    )
    main(["import", str(path), "--db", db])
    code, out, _ = _run(capsys, "summary", "--db", db)
    assert "example.com" in out
    assert "25.00%" in out
    assert "top failing MX hosts: mx1.example.com 25" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import", "/nonexistent/reports"], "/nonexistent/reports: no such file or directory"),
        (["summary", "--db", "mysql://u@h/d"], "unsupported database URL scheme 'mysql'"),
        (["summary", "--since", "yesterday"], "not a YYYY-MM-DD date: 'yesterday'"),
        (["import", ".", "--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_usage_errors_exit_2_without_traceback(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_unreachable_database_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, err = _run(capsys, "summary", "--db", f"postgresql://u:pw@127.0.0.1:{port}/x")
    assert code == 2
    assert f"cannot open database postgresql://u:***@127.0.0.1:{port}/x" in err
    assert "Traceback" not in err


def test_db_upgrade(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    head = head_revision()
    first = _json(capsys, "db", "upgrade", "--db", db_url)
    assert (first["from"], first["to"]) == (None, head)
    second = _json(capsys, "db", "upgrade", "--db", db_url)
    assert (second["from"], second["to"]) == (head, head)
    assert first["database"].startswith(("sqlite:///", "postgresql://"))


def test_environment_variable_names_the_database(
    tmp_path: Path, make: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TLSRPT_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    path = tmp_path / "r.json"
    path.write_bytes(make.json())
    assert main(["import", str(path)]) == 0
    assert (tmp_path / "env.sqlite3").is_file()
    assert len(_json(capsys, "reports", "list")["reports"]) == 1


def test_reports_show_says_how_a_policy_was_attributed(
    tmp_path: Path, postfix: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """An imported .eml from Postfix with libtlsrpt: counted for its
    TLS-Report-Domain (docs/conformance.md#attribution)."""
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    path = tmp_path / "postfix.eml"
    path.write_bytes(postfix.mail("customer.example", postfix.report("eml")))
    assert _json(capsys, "import", str(path), "--db", db)["accepted"] == 1
    shown = _json(capsys, "reports", "show", "1", "--db", db)
    assert shown["domains"] == ["customer.example"]
    code, out, _ = _run(capsys, "reports", "show", "1", "--db", db)
    assert code == 0
    assert (
        "policy tlsa mx1.provider.example (counted for customer.example, from the "
        "report-domain-header): 40 successful, 1 failed" in out
    )
    assert "policy no-policy-found (no policy-domain; counted for customer.example)" in out
