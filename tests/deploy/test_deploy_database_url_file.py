"""TLSRPT_DATABASE_URL_FILE for every command, not only serve and watch:
in the compose setup the database URL (with its password) is a secret file,
and `tlsrpt db upgrade` or `tlsrpt user add` run in the same container must
reach the same database instead of creating a SQLite file of their own."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tlsrpt.cli import main
from tlsrpt.store.location import ENV_VAR, default_database_path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv(ENV_VAR + "_FILE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the default's place
    return tmp_path


def test_db_upgrade_uses_the_url_in_the_file(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = env / "secret-db.sqlite3"
    secret = env / "database_url"
    secret.write_text(f"sqlite:///{db}\n")  # a trailing newline, as editors write it
    monkeypatch.setenv(ENV_VAR + "_FILE", str(secret))
    assert main(["db", "upgrade", "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["database"] == f"sqlite:///{db}"
    assert db.is_file()
    assert not default_database_path().exists()


def test_the_variable_itself_wins_over_the_file(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = env / "database_url"
    secret.write_text(f"sqlite:///{env / 'from-file.sqlite3'}")
    monkeypatch.setenv(ENV_VAR + "_FILE", str(secret))
    monkeypatch.setenv(ENV_VAR, f"sqlite:///{env / 'from-env.sqlite3'}")
    assert main(["db", "upgrade"]) == 0
    assert (env / "from-env.sqlite3").is_file()
    assert not (env / "from-file.sqlite3").exists()


@pytest.mark.parametrize(("content", "reason"), [(None, "No such file"), ("  \n", "is empty")])
def test_unusable_file_is_an_error_naming_the_variable(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    reason: str,
) -> None:
    secret = env / "database_url"
    if content is not None:
        secret.write_text(content)
    monkeypatch.setenv(ENV_VAR + "_FILE", str(secret))
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert f"{ENV_VAR}_FILE" in err and reason in err
    assert "Traceback" not in err
    # nothing was created in the default place instead
    assert not default_database_path().exists()
