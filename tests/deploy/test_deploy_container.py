"""deploy/Containerfile, deploy/compose.yaml and deploy/tlsrpt.toml.example
against the code they configure: the settings they set exist and load, the
commands parse, the health check's path exists and its command tells a
ready server from a stopped one. (Building the image: test_deploy_image.py.)"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml

from tlsrpt.cli import build_parser
from tlsrpt.cli.serve import run as serve_run
from tlsrpt.cli.watch import run as watch_run
from tlsrpt.serve.listener import uvicorn_config
from tlsrpt.settings import Settings, load_settings
from tlsrpt.store.engine import Store, open_store
from tlsrpt.store.location import ENV_VAR
from tlsrpt.web.app import create_app

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
CONFIG_IN_CONTAINER = "/etc/tlsrpt/tlsrpt.toml"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuation lines joined."""
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n(\s*#.*\n)*", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _args(name: str) -> list[str]:
    return [rest for word, rest in _instructions() if word == name]


def _healthcheck_command() -> list[str]:
    (healthcheck,) = _args("HEALTHCHECK")
    command: list[str] = json.loads(healthcheck.split(" CMD ", 1)[1])
    return command


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    return data


def _setting_of(variable: str) -> str:
    """The Settings field a TLSRPT_* variable sets (`_FILE`: from a file)."""
    assert variable.startswith("TLSRPT_"), variable
    name = variable.removeprefix("TLSRPT_").lower().removesuffix("_file")
    assert name in Settings.__dataclass_fields__, f"{variable} sets no setting"
    return name


def test_containerfile_stages_user_volume_port_and_entry_point() -> None:
    stages = _args("FROM")
    # multi-stage: the wheel is built in the first stage, the second starts
    # again from the same Python image and takes only the environment
    assert stages == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    (base,) = [a for a in _args("ARG") if a.startswith("PYTHON_IMAGE=")]
    python = re.search(r"python:(\d+)\.(\d+)-slim", base)
    assert python is not None and (int(python[1]), int(python[2])) >= (3, 11), base
    build_steps = " ".join(_args("RUN"))
    assert "pip wheel --no-deps --wheel-dir /wheels ." in build_steps
    assert "COPY --from=build /opt/tlsrpt /opt/tlsrpt" in [f"COPY {a}" for a in _args("COPY")]
    # what the build stage copies exists and is not excluded from the context
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for copy in _args("COPY"):
        if copy.startswith("--from"):
            continue
        for source in copy.split()[:-1]:
            assert (ROOT / source).exists(), source
            assert f"!{source}" in ignored or f"!{source}/" in ignored, source
    # a fixed, non-root user; the database in the volume
    (user,) = _args("USER")
    uid = dict(a.split("=", 1) for a in _args("ARG") if "=" in a)["TLSRPT_UID"]
    assert user == "${TLSRPT_UID}:${TLSRPT_UID}" and int(uid) >= 1000
    assert _args("VOLUME") == ['["/var/lib/tlsrpt"]']
    assert _args("EXPOSE") == ["8080"]
    env = " ".join(_args("ENV"))
    assert "TLSRPT_HOST=0.0.0.0" in env and "TLSRPT_PORT=8080" in env
    # XDG_DATA_HOME=/var/lib puts the default SQLite file into the volume
    assert "XDG_DATA_HOME=/var/lib" in env
    assert _args("ENTRYPOINT") == ['["tlsrpt"]']
    (cmd,) = _args("CMD")
    argv = json.loads(cmd)
    assert build_parser(argv).parse_args(argv).func is serve_run


def test_default_database_is_in_the_volume(monkeypatch: pytest.MonkeyPatch) -> None:
    from tlsrpt.store.location import default_database_path

    monkeypatch.setenv("XDG_DATA_HOME", "/var/lib")
    assert default_database_path() == Path("/var/lib/tlsrpt/tlsrpt.sqlite3")


def test_healthcheck_path_exists_and_compose_uses_the_same_check() -> None:
    command = _healthcheck_command()
    assert command[:2] == ["/opt/tlsrpt/bin/python", "-c"]
    assert "urllib.request.urlopen(" in command[2] and "/readyz" in command[2]
    paths = {getattr(route, "path", None) for route in create_app(Settings()).routes}
    assert "/readyz" in paths
    services = _compose()["services"]
    probe = services["tlsrpt"]["healthcheck"]["test"]
    assert probe == ["CMD", *command]
    assert services["watch"]["healthcheck"] == {"disable": True}


def _probe(port: int) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, with this environment's Python."""
    _, flag, code = _healthcheck_command()
    return subprocess.run(
        [sys.executable, flag, code],
        env={**os.environ, "TLSRPT_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@contextlib.contextmanager
def _serving(store: Store) -> Iterator[int]:
    """The app on an ephemeral loopback port, as `tlsrpt serve` runs it, but
    without its lifespan: /readyz needs only the store, and the ingest
    helper process the lifespan starts takes seconds to spawn and stop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    settings = Settings(watch_interval="0")
    app = create_app(settings, store)
    app.state.store = store
    config = uvicorn_config(app, settings, "warning")
    config.lifespan = "off"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def test_healthcheck_command_tells_ready_from_unready_and_stopped(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'ready.sqlite3'}") as store, _serving(store) as port:
        ready = _probe(port)
    assert ready.returncode == 0, ready.stderr
    stopped = _probe(port)
    assert stopped.returncode != 0
    assert "Connection refused" in stopped.stderr
    # the process answers, but its database has no schema yet: not ready
    empty = open_store(f"sqlite:///{tmp_path / 'empty.sqlite3'}", migrate=False)
    with empty, _serving(empty) as port:
        unready = _probe(port)
    assert unready.returncode != 0
    assert "HTTP Error 503" in unready.stderr


def test_compose_services_build_settings_and_secrets() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"db", "tlsrpt", "watch"}
    # PostgreSQL 15 or newer, its data in a named volume
    db = services["db"]
    major = re.search(r"postgres:(\d+)", db["image"])
    assert major is not None and int(major[1]) >= 15
    assert db["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert "pgdata" in compose["volumes"]
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    for name in ("tlsrpt", "watch"):
        service = services[name]
        # built from this repository's Containerfile
        build = service["build"]
        context = (DEPLOY / build["context"]).resolve()
        assert context == ROOT and (context / build["dockerfile"]).is_file()
        assert service["image"] == services["tlsrpt"]["image"]
        assert service["depends_on"]["db"] == {"condition": "service_healthy"}
        # every TLSRPT_* variable is a setting; the database URL is a secret file
        env = service["environment"]
        for variable in env:
            _setting_of(variable)
        assert env[f"{ENV_VAR}_FILE"] == "/run/secrets/database_url"
        assert ENV_VAR not in env
        for secret in service["secrets"]:
            assert secret in compose["secrets"]
        # the settings file is mounted where the command reads it
        assert f"./tlsrpt.toml:{CONFIG_IN_CONTAINER}:ro" in service["volumes"]
        argv = service["command"]
        args = build_parser(argv).parse_args(argv)
        assert args.func is (serve_run if name == "tlsrpt" else watch_run)
        assert args.config == Path(CONFIG_IN_CONTAINER)
    # serve leaves the scheduled checks to the watch service
    assert services["tlsrpt"]["environment"]["TLSRPT_WATCH_INTERVAL"] == "0"
    assert "TLSRPT_WATCH_INTERVAL" not in services["watch"]["environment"]
    assert load_settings(None, env=services["tlsrpt"]["environment"] | {f"{ENV_VAR}_FILE": ""})
    # published on loopback only: a TLS proxy goes in front
    assert services["tlsrpt"]["ports"] == ["127.0.0.1:8080:8080"]
    assert "ports" not in services["watch"]


def test_compose_file_validates_with_docker_compose(tmp_path: Path) -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose)")
    # docker-compose 1.x validates against its copy of the Compose
    # specification's schema, which predates the top-level `name`.
    compose = _compose()
    assert compose.pop("name") == "tlsrpt"
    deploy = tmp_path / "deploy"
    (deploy / "secrets").mkdir(parents=True)
    for secret in compose["secrets"].values():
        (deploy / secret["file"]).write_text("x")
    (deploy / "tlsrpt.toml").write_text("")
    (deploy / "compose.yaml").write_text(yaml.safe_dump(compose))
    done = subprocess.run(
        [tool, "--file", str(deploy / "compose.yaml"), "config", "--quiet"],
        cwd=deploy,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # the check can fail: a misspelt key is refused
    compose["services"]["watch"]["stop_grace_perod"] = "90s"
    (deploy / "compose.yaml").write_text(yaml.safe_dump(compose))
    done = subprocess.run(
        [tool, "--file", str(deploy / "compose.yaml"), "config", "--quiet"],
        cwd=deploy,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "stop_grace_perod" in done.stderr


EXAMPLE = DEPLOY / "tlsrpt.toml.example"
OPTIONAL = re.compile(r"^#(?=[a-z\[\"])", re.MULTILINE)  # `#key = ...`, `#[table]`


def test_example_config_loads_with_the_real_loader() -> None:
    settings = load_settings(EXAMPLE, env={})
    assert settings.watch_interval == "6h"
    assert settings.alerts.cooldown.total_seconds() == 7200
    assert settings.public_url == "https://tlsrpt.example.com"


def test_example_config_optional_settings_load_too(tmp_path: Path) -> None:
    """Every `#key = ...` line uncommented: still settings that exist, with
    values the loader takes, so the example cannot drift from the code."""
    text = EXAMPLE.read_text(encoding="utf-8")
    uncommented = OPTIONAL.sub("", text)
    assert len(OPTIONAL.findall(text)) >= 30
    path = tmp_path / "tlsrpt.toml"
    path.write_text(uncommented, encoding="utf-8")
    settings = load_settings(path, env={})
    assert settings.smtp.port == 25 and settings.smtp.recipients
    assert settings.imap.host == "imap.example.com"
    assert [c.name for c in settings.notify] == ["ops", "postmasters"]
    assert dict(settings.watch_intervals) == {"shop.example.com": "1h", "parked.example.org": "0"}
    assert settings.database_url == "sqlite:////var/lib/tlsrpt/tlsrpt.sqlite3"
