"""`tlsrpt domain import FILE`: a provider's customer list registered at
once, each line read by the same rules as `domain add`, refused lines named
(terminal-safe) and the rest written in one transaction."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tlsrpt.cli import main
from tlsrpt.store.engine import open_store
from tlsrpt.store.lifecycle import list_domains

ESC = "\x1b"
LIST = f"""# customers, exported 2026-12-07
Shop.Example.ORG.
shop.example.org
blog.example.net   # the blog

no_dots
evil{ESC}[31m.example
"""


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'import.sqlite3'}"


def _owners(db: str) -> dict[str, list[str]]:
    with open_store(db) as store, store.read() as conn:
        return {d["domain"]: d["owners"] for d in list_domains(conn)}


def _add_customer(monkeypatch: pytest.MonkeyPatch, db: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert main(["user", "add", "c@example.org", "--password-stdin", "--db", db]) == 0


def test_a_list_is_registered_and_refused_lines_are_named(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_customer(monkeypatch, db)
    capsys.readouterr()
    path = tmp_path / "customers.txt"
    path.write_text(LIST, encoding="utf-8")
    assert main(["domain", "import", str(path), "--owner", "c@example.org", "--db", db]) == 1
    out, err = capsys.readouterr()
    assert "2 added, 0 registered already, 1 repeated, 2 refused" in out
    assert "2 newly given to c@example.org" in out
    assert "line 6: no_dots:" in err
    assert "line 7: evil\\x1b[31m.example:" in err and ESC not in err  # terminal-safe
    assert _owners(db) == {
        "blog.example.net": ["c@example.org"],
        "shop.example.org": ["c@example.org"],
    }
    # Again, as JSON: nothing new.
    assert main(["domain", "import", str(path), "--db", db, "--json"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert (answer["added"], answer["registered"], answer["repeated"]) == (0, 2, 1)
    assert [(r["line"], r["text"]) for r in answer["refused"]] == [
        (6, "no_dots"),
        (7, f"evil{ESC}[31m.example"),
    ]


def test_a_clean_list_from_stdin_exits_0(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    names = "".join(f"customer-{n}.example\n" for n in range(1200))  # more than one chunk
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(names.encode())))
    assert main(["domain", "import", "-", "--db", db]) == 0
    assert "1200 added" in capsys.readouterr().out
    assert len(_owners(db)) == 1200


def test_nothing_is_written_when_the_list_or_the_owner_is_wrong(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.txt"
    good.write_text("a.example\n")
    assert main(["domain", "import", str(good), "--owner", "nobody@example.org", "--db", db]) == 2
    assert "no user nobody@example.org" in capsys.readouterr().err
    binary = tmp_path / "latin1.txt"
    binary.write_bytes("caf\xe9.example\n".encode("latin-1"))
    assert main(["domain", "import", str(binary), "--db", db]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err
    assert main(["domain", "import", str(tmp_path / "missing.txt"), "--db", db]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert _owners(db) == {}
