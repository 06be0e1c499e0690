"""Run a command under the system call sandbox a tlsrpt unit asks systemd
for, imposed by the process on itself: for machines (such as containers)
where systemd does not run services.

    /usr/bin/python3 tests/deploy/sandbox_emulation.py deploy/systemd/tlsrpt-serve.service \\
        .venv/bin/pytest tests/web

What it applies, read from the unit file:

- `SystemCallFilter=` allow and deny lists (groups expanded by
  `systemd-analyze syscall-filter`), other calls failing with
  `SystemCallErrorNumber=` (a seccomp filter, via Debian's python3-seccomp);
- `RestrictAddressFamilies=`: socket() of any other family fails with
  EAFNOSUPPORT, as under systemd;
- `MemoryDenyWriteExecute=yes`: the kernel's own PR_SET_MDWE (Linux 6.3+),
  which refuses the same mappings systemd's seccomp rules do (writable and
  executable at once, or made executable later);
- `NoNewPrivileges=yes` (required for the filter).

Not applied: the mount namespace options (ProtectSystem, PrivateTmp, ...),
the user, capabilities and resource limits.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

import seccomp  # type: ignore[import-not-found]  # Debian: python3-seccomp

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def expand(group: str, seen: set[str] | None = None) -> set[str]:
    """The system calls of a systemd group such as @system-service."""
    seen = set() if seen is None else seen
    listing = subprocess.run(
        ["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True
    ).stdout
    calls: set[str] = set()
    for line in listing.splitlines()[1:]:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            if line not in seen:
                seen.add(line)
                calls |= expand(line, seen)
        else:
            calls.add(line)
    return calls


def service_settings(unit: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            values.setdefault(key, []).append(value)
    return values


def allowed_calls(filters: list[str]) -> set[str]:
    """An allow list, minus the `~` deny lists that follow it."""
    allowed: set[str] = set()
    for entry in filters:
        deny = entry.startswith("~")
        names: set[str] = set()
        for word in entry.lstrip("~").split():
            names |= expand(word) if word.startswith("@") else {word}
        allowed = allowed - names if deny else allowed | names
    return allowed


def install(unit: Path) -> int:
    settings = service_settings(unit)
    error = getattr(errno, settings.get("SystemCallErrorNumber", ["EPERM"])[-1])
    calls = allowed_calls(settings["SystemCallFilter"])
    families = {getattr(socket, f) for f in settings["RestrictAddressFamilies"][-1].split()}
    rules = seccomp.SyscallFilter(defaction=seccomp.ERRNO(error))
    for name in sorted(calls - {"socket"}):
        try:
            rules.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):
            pass  # a call this libseccomp does not know (newer than it)
    for family in range(64):
        action = seccomp.ALLOW if family in families else seccomp.ERRNO(errno.EAFNOSUPPORT)
        rules.add_rule(action, "socket", seccomp.Arg(0, seccomp.EQ, family))
    if settings.get("MemoryDenyWriteExecute") == ["yes"]:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
            raise SystemExit(f"PR_SET_MDWE: {os.strerror(ctypes.get_errno())}")
    rules.load()  # sets no_new_privs first
    return len(calls)


def main() -> None:
    unit, *command = sys.argv[1:]
    count = install(Path(unit))
    print(f"sandbox of {unit}: {count} system calls allowed", file=sys.stderr)
    os.execvp(command[0], command)  # noqa: S606  # the command replaces this process


if __name__ == "__main__":
    main()
