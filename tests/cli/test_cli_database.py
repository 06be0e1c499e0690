"""Which database a command opens: `--db` before or after the command, a
mistyped URL refused, and read-only commands that never create or migrate
a database."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from cli_harness import FIXTURES, cli

from tlsrpt import cli as cli_module
from tlsrpt.store.engine import Store
from tlsrpt.store.migrate import _scripts, current_revision, head_revision, upgrade

REPORT = FIXTURES / "conformant-minimal.json"

# Every command that only shows data, with what it needs to run.
READ_ONLY = [
    ("summary",),
    ("reports", "list"),
    ("reports", "show", "1"),
    ("quarantine", "list"),
    ("quarantine", "show", "1"),
    ("quarantine", "export", "--all"),
    ("export", "domains"),
    ("export", "reports", "--json"),
    ("user", "list"),
    ("token", "list"),
    ("domain", "list"),
]


@pytest.mark.parametrize(
    "argv",
    [("summary",), ("reports", "list"), ("import", str(REPORT)), ("db", "upgrade")],
    ids=" ".join,
)
@pytest.mark.parametrize("word", ["notaurl", "localhost", "postgres"])
def test_a_bare_word_is_not_taken_for_a_new_sqlite_file(
    argv: tuple[str, ...],
    word: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(capsys, *argv, "--db", word)
    assert result.status == 2
    assert f"'{word}' is neither a database URL nor a SQLite file path" in result.err
    assert f"sqlite:///{word} or ./{word}" in result.err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "spelling",
    ["./reports", "reports.db", "reports.sqlite", "reports.sqlite3", "sqlite:///reports", "ABS"],
)
def test_database_paths_as_the_readme_writes_them(
    spelling: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "abs.sqlite3") if spelling == "ABS" else spelling
    assert cli(capsys, "import", str(REPORT), "--db", db).status == 0
    listed = orjson.loads(cli(capsys, "reports", "list", "--db", db, "--json").out)
    assert [r["report_id"] for r in listed["reports"]] == ["r-1"]


def test_an_existing_file_may_be_named_bare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "import", str(REPORT), "--db", "./tlsrpt-data").status == 0
    assert cli(capsys, "summary", "--db", "tlsrpt-data").status == 0


def test_a_sqlite_url_with_a_host_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "summary", "--db", "sqlite://reports.db")
    assert result.status == 2
    assert "a SQLite URL has no host" in result.err


@pytest.mark.parametrize("argv", READ_ONLY, ids=" ".join)
def test_read_only_commands_never_create_a_database(
    argv: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "missing.sqlite3"
    result = cli(capsys, *argv, "--db", f"sqlite:///{missing}")
    assert result.status == 2
    assert f"no database at sqlite:///{missing} ({missing} does not exist)" in result.err
    assert "`tlsrpt import` or `tlsrpt db upgrade` creates one" in result.err
    assert list(tmp_path.iterdir()) == []


def test_the_default_database_is_not_created_by_a_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TLSRPT_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    result = cli(capsys, "summary")
    assert result.status == 2
    assert "tlsrpt/tlsrpt.sqlite3 does not exist" in result.err
    assert not (tmp_path / "data").exists()
    assert cli(capsys, "import", str(REPORT)).status == 0  # a writer creates it
    assert cli(capsys, "summary").status == 0


@pytest.mark.parametrize("argv", READ_ONLY, ids=" ".join)
def test_read_only_commands_refuse_an_empty_file(
    argv: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    result = cli(capsys, *argv, "--db", str(empty))
    assert result.status == 2
    assert f"database sqlite:///{empty} holds no tlsrpt data (no tlsrpt schema)" in result.err
    assert empty.stat().st_size == 0


def test_read_only_commands_do_not_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    previous = _scripts().get_revision(head_revision()).down_revision
    assert isinstance(previous, str)
    with Store(db) as store:
        upgrade(store, previous)
    result = cli(capsys, "summary", "--db", db)
    assert result.status == 2
    assert f"has schema revision {previous}" in result.err
    assert "run `tlsrpt db upgrade` first" in result.err
    with Store(db) as store, store.read() as conn:
        assert current_revision(conn) == previous
    assert cli(capsys, "db", "upgrade", "--db", db).status == 0
    assert cli(capsys, "summary", "--db", db).status == 0


@pytest.mark.postgres
def test_an_empty_postgresql_schema_does_not_exist_for_readers(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "reports", "list", "--db", postgres_url)
    assert result.status == 2
    assert "holds no tlsrpt data (no tlsrpt schema)" in result.err
    with Store(postgres_url) as store, store.read() as conn:
        assert sa.inspect(conn).get_table_names() == []
    assert cli(capsys, "import", str(REPORT), "--db", postgres_url).status == 0
    assert cli(capsys, "reports", "list", "--db", postgres_url).status == 0


def test_db_before_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    assert cli(capsys, "--db", db, "import", str(REPORT)).status == 0
    before = cli(capsys, "--db", db, "reports", "list", "--json")
    assert before.status == 0, before.err
    assert before.out == cli(capsys, "reports", "list", "--db", db, "--json").out
    assert cli(capsys, f"--db={db}", "summary", "--db", db).status == 0  # the same twice
    twice = cli(capsys, "--db", db, "summary", "--db", db + "x")
    assert (twice.status, "--db given twice" in twice.err) == (2, True)
    unused = cli(capsys, "--db", db, "parse", str(REPORT))
    assert unused.status == 2
    assert "--db does not apply to `parse`" in unused.err


def test_db_value_is_not_taken_for_the_command() -> None:
    assert cli_module._modules_to_load(["--db", "summary.db", "summary"]) == ["summary"]
    assert cli_module._modules_to_load(["--db", "x", "reports", "list"]) == ["reports"]


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (("summary", "--bogus"), "usage: tlsrpt summary [-h]"),
        (("reports", "list", "--bogus"), "usage: tlsrpt reports list [-h]"),
        (("reports", "--bogus", "list"), "usage: tlsrpt reports [-h]"),
        (("export", "domains", "--bogus"), "usage: tlsrpt export [-h]"),
        (("parse", "x.json", "--bogus"), "usage: tlsrpt parse [-h]"),
        (("--bogus", "summary"), "usage: tlsrpt [-h]"),
    ],
)
def test_an_unknown_option_prints_the_usage_of_its_command(
    argv: tuple[str, ...], usage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, *argv)
    assert result.status == 2
    assert result.err.startswith(usage)
    assert "error: unrecognized arguments: --bogus" in result.err
