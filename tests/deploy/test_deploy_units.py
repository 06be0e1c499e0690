"""The systemd units in deploy/systemd: systemd itself reads them
(`systemd-analyze verify`, its offline security score, `systemd-sysusers`),
their sandboxing options are the ones documented, and every command and
variable they name exists in tlsrpt."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tlsrpt.cli import build_parser
from tlsrpt.cli.serve import run as serve_run
from tlsrpt.cli.watch import run as watch_run
from tlsrpt.settings import Settings
from tlsrpt.store.location import ENV_VAR
from tlsrpt.web.connections import RESERVED_DESCRIPTORS

SYSTEMD = Path(__file__).parents[2] / "deploy" / "systemd"
UNITS = ("tlsrpt-serve.service", "tlsrpt-watch.service")
DROP_INS = ("serve-without-watcher.conf", "smtp-port-25.conf")
INSTALLED = "/opt/tlsrpt/bin/tlsrpt"
# Beyond this exposure (0-100; systemd calls up to 20 "OK") the sandboxing
# has been weakened.
MAX_EXPOSURE = 20


def _analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    return path


def _entries(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file or drop-in, in order (systemd
    allows a key more than once)."""
    section, out = "", []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def _values(path: Path, key: str) -> list[str]:
    return [v for s, k, v in _entries(path) if s == "Service" and k == key]


def _one(path: Path, key: str) -> str:
    values = _values(path, key)
    assert len(values) == 1, f"{path.name}: {key} = {values}"
    return values[0]


def _installable_copy(tmp_path: Path) -> Path:
    """The units with ExecStart pointing at this environment's tlsrpt (systemd
    refuses a unit whose program does not exist), and the drop-ins of
    tlsrpt-serve.service in its .d directory."""
    tlsrpt = Path(sys.executable).parent / "tlsrpt"
    assert tlsrpt.is_file(), tlsrpt
    folder = tmp_path / "units"
    (folder / "tlsrpt-serve.service.d").mkdir(parents=True)
    for unit in UNITS:
        text = (SYSTEMD / unit).read_text(encoding="utf-8")
        assert f"ExecStart={INSTALLED} " in text
        (folder / unit).write_text(text.replace(INSTALLED, str(tlsrpt)), encoding="utf-8")
    for conf in DROP_INS:
        shutil.copy(SYSTEMD / conf, folder / "tlsrpt-serve.service.d" / conf)
    return folder


def _verify(folder: Path, *units: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_analyze(), "verify", *units],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_systemd_analyze_verify_accepts_units_and_drop_ins(tmp_path: Path) -> None:
    folder = _installable_copy(tmp_path)
    done = _verify(folder, *UNITS)
    # systemd-analyze exits 0 for an option it ignores ("Unknown key",
    # "Failed to parse ..."): any output is a fault.
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == ""
    # the check can fail: the same copy with a misspelt option is reported
    serve = folder / "tlsrpt-serve.service"
    serve.write_text(
        serve.read_text().replace("ProtectSystem=strict", "ProtectSystem=strictest"),
        encoding="utf-8",
    )
    (folder / "tlsrpt-serve.service.d" / "typo.conf").write_text("[Service]\nKillMode=mixd\n")
    done = _verify(folder, "tlsrpt-serve.service")
    assert "ProtectSystem" in done.stderr or "protect system" in done.stderr, done.stderr
    assert "mixd" in done.stderr, done.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_security_exposure_stays_low(tmp_path: Path, unit: str) -> None:
    folder = _installable_copy(tmp_path)
    done = subprocess.run(
        [_analyze(), "security", "--offline=true", f"--threshold={MAX_EXPOSURE}", unit],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "offline" in done.stderr and "unrecognized" in done.stderr:
        pytest.skip("systemd-analyze security --offline needs systemd 250 or newer")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert f"Overall exposure level for {unit}" in done.stdout


@pytest.mark.parametrize("unit", UNITS)
def test_units_sandbox_options(unit: str) -> None:
    path = SYSTEMD / unit
    expected = {
        "Type": "exec",
        "User": "tlsrpt",
        "Group": "tlsrpt",
        "StateDirectory": "tlsrpt",
        "Restart": "on-failure",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "EnvironmentFile": "/etc/tlsrpt/tlsrpt.env",
    }
    for key, value in expected.items():
        assert _one(path, key) == value, key
    assert "@system-service" in _values(path, "SystemCallFilter")
    # the receiver lowers max_connections to the descriptor limit less a reserve
    assert int(_one(path, "LimitNOFILE")) >= Settings().max_connections + RESERVED_DESCRIPTORS


@pytest.mark.parametrize(("unit", "func"), [(UNITS[0], serve_run), (UNITS[1], watch_run)])
def test_exec_start_is_a_tlsrpt_command(unit: str, func: object) -> None:
    program, *argv = shlex.split(_one(SYSTEMD / unit, "ExecStart"))
    assert program == INSTALLED
    args = build_parser(argv).parse_args(argv)
    assert args.func is func
    assert args.config == Path("/etc/tlsrpt/tlsrpt.toml")


def test_drop_ins_and_env_file_name_real_settings() -> None:
    fields = set(Settings.__dataclass_fields__)
    for conf in DROP_INS:
        entries = _entries(SYSTEMD / conf)
        assert entries and all(section == "Service" for section, _, _ in entries), conf
        for _, key, value in entries:
            if key == "Environment":
                name = value.split("=", 1)[0]
                assert name.startswith("TLSRPT_")
                assert name.removeprefix("TLSRPT_").lower() in fields, name
    # the drop-in for port 25 hands the one capability that binding needs
    port25 = SYSTEMD / "smtp-port-25.conf"
    assert _values(port25, "AmbientCapabilities") == ["CAP_NET_BIND_SERVICE"]
    assert _values(port25, "CapabilityBoundingSet") == ["CAP_NET_BIND_SERVICE"]
    assigned = [
        line.split("=", 1)[0].lstrip("#")
        for line in (SYSTEMD / "tlsrpt.env").read_text().splitlines()
        if "=" in line and not line.startswith("# ")
    ]
    assert assigned and set(assigned) == {ENV_VAR}


def test_sysusers_creates_the_service_user(tmp_path: Path) -> None:
    sysusers = shutil.which("systemd-sysusers")
    if sysusers is None:
        pytest.skip("systemd-sysusers is not installed (Debian package systemd)")
    (tmp_path / "etc").mkdir()
    done = subprocess.run(
        [sysusers, f"--root={tmp_path}", str(SYSTEMD / "tlsrpt.sysusers")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    users = {
        line.split(":")[0]: line.split(":")
        for line in (tmp_path / "etc" / "passwd").read_text().splitlines()
    }
    _, _, uid, _, _, home, shell = users["tlsrpt"]
    assert int(uid) < 1000  # a system user
    assert (home, shell) == ("/var/lib/tlsrpt", "/usr/sbin/nologin")
