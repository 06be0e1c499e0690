"""Build deploy/Containerfile with buildah and run the image (opt-in: slow,
and it needs the base image and PyPI).

    TLSRPT_TEST_BUILD_IMAGE=1 .venv/bin/pytest tests/deploy/test_deploy_image.py

Daemonless and rootless-friendly: `buildah bud --isolation chroot` with the
vfs storage driver under a temporary directory (no user namespaces or
overlay mounts needed). The container shares the host's network in chroot
isolation, so its server is reached on loopback. Optional:

- TLSRPT_TEST_PYTHON_IMAGE: another base image (the Containerfile's
  PYTHON_IMAGE), e.g. one built locally when no registry is reachable;
- TLSRPT_TEST_BUILDAH_ROOT: buildah's storage directory (where such a
  local base image is), instead of a fresh temporary one;
- TLSRPT_TEST_BUILD_CA: a CA bundle for pip in the build, mounted and
  passed as PIP_CERT (behind a TLS-intercepting proxy).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

ROOT = Path(__file__).parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "reports" / "conformant-minimal.json"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(
        os.environ.get("TLSRPT_TEST_BUILD_IMAGE") != "1",
        reason="builds the container image (minutes, needs PyPI): set TLSRPT_TEST_BUILD_IMAGE=1",
    ),
]


class Buildah:
    def __init__(self, root: Path) -> None:
        tool = shutil.which("buildah")
        if tool is None:
            pytest.fail("TLSRPT_TEST_BUILD_IMAGE=1 but buildah is not installed")
        self.base = [
            tool,
            "--root",
            str(root / "storage"),
            "--runroot",
            str(root / "run"),
            "--storage-driver",
            "vfs",
        ]

    def __call__(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, f"buildah {args[0]}: {done.stderr[-4000:]}"
        return done.stdout

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*self.base, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Buildah, str]]:
    given = os.environ.get("TLSRPT_TEST_BUILDAH_ROOT")
    buildah = Buildah(Path(given) if given else tmp_path_factory.mktemp("buildah"))
    tag = f"localhost/tlsrpt-test:{uuid.uuid4().hex[:12]}"
    args = ["bud", "--isolation", "chroot", "--format", "docker", "--tag", tag]
    if base := os.environ.get("TLSRPT_TEST_PYTHON_IMAGE"):
        args += ["--build-arg", f"PYTHON_IMAGE={base}"]
    if ca := os.environ.get("TLSRPT_TEST_BUILD_CA"):
        args += [
            "--build-arg",
            "PIP_CERT=/run/build-ca.pem",
            "--volume",
            f"{ca}:/run/build-ca.pem:ro",
        ]
    buildah(*args, "--file", str(ROOT / "deploy" / "Containerfile"), str(ROOT), timeout=1500)
    try:
        yield buildah, tag
    finally:
        buildah("rmi", tag)


def test_image_configuration(image: tuple[Buildah, str]) -> None:
    buildah, tag = image
    config = json.loads(buildah("inspect", "--type", "image", tag))["Docker"]["config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["tlsrpt"] and config["Cmd"] == ["serve"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert "/var/lib/tlsrpt" in config["Volumes"]
    test = config["Healthcheck"]["Test"]
    assert test[0] == "CMD" and "/readyz" in test[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_image_serves_stores_and_is_healthy(image: tuple[Buildah, str]) -> None:
    buildah, tag = image
    container = buildah("from", "--name", f"tlsrpt-test-{uuid.uuid4().hex[:8]}", tag).strip()
    port = _free_port()
    env = ["--env", f"TLSRPT_PORT={port}", "--env", "TLSRPT_WATCH_INTERVAL=0"]

    def run(*argv: str) -> str:
        return buildah("run", "--isolation", "chroot", *env, container, "--", *argv)

    server = buildah.popen("run", "--isolation", "chroot", *env, container, "--", "tlsrpt", "serve")
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.communicate()[1].decode()[-4000:]
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "tlsrpt serve did not come up in the image"
                time.sleep(0.3)
        config = json.loads(buildah("inspect", "--type", "image", tag))["Docker"]["config"]
        run(*config["Healthcheck"]["Test"][1:])  # exits 0: ready
        posted = httpx.post(
            f"http://127.0.0.1:{port}/v1/reports",
            content=FIXTURE.read_bytes(),
            headers={"content-type": "application/tlsrpt+json"},
        )
        assert posted.status_code == 201, posted.text
        # the commands find the same database: the SQLite file in the volume
        assert run("id", "-u").strip() == "10001"
        summary = orjson.loads(run("tlsrpt", "summary", "--json"))
        assert sum(d["reports"] for d in summary["domains"]) >= 1
        assert "tlsrpt.sqlite3" in run("ls", "/var/lib/tlsrpt")
    finally:
        server.terminate()
        server.communicate(timeout=60)
        buildah("rm", container)
