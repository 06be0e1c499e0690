"""Helpers for the CLI tests: the command in this process (output captured,
so not a terminal), as a process on a real pseudo-terminal, and a report
whose every string is hostile. (A module of its own name: `conftest` is
taken by other test folders.)"""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tlsrpt.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"

# Strings as an anonymous sender may write them: an OSC window title, a clear
# screen, a C1 CSI, bidi override and isolates, zero-width characters, a BOM,
# NEL and LINE SEPARATOR, CR and BS that overwrite, rich markup, an emoji code.
HOSTILE_ORG = (
    "Evil\x1b]0;pwned\x07 Org \u202egnp.exe\u202c [red]red[/] :smile: \x9b31m"
    "\u2066x\u2069\u200b\ufeff\u200f"
)
HOSTILE_ID = "id\x1b[2J\tx\ny\r\x08\x7f-" + "z" * 90
HOSTILE_MX = "\x1b[31mmx.evil.example\x1b[0m\u202e"
HOSTILE_REASON = "[bold red]rich markup[/] \x85next\u2028line :thumbs_up:"

# What a terminal acts on, or what hides text: never in human output.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# The SGR sequences rich writes itself on a terminal (colours, bold).
RICH_SGR = re.compile(r"\x1b\[[0-9;]*m")


def unsafe_characters(text: str, allowed: str = "\n") -> list[str]:
    """The control, format and separator characters in `text`, but `allowed`."""
    return [c for c in text if unicodedata.category(c) in UNSAFE_CATEGORIES and c not in allowed]


def hostile_report() -> dict[str, object]:
    doc = orjson.loads((FIXTURES / "hostile-strings.json").read_bytes())
    doc["organization-name"] = HOSTILE_ORG
    doc["report-id"] = HOSTILE_ID
    detail = doc["policies"][0]["failure-details"][0]
    detail["receiving-mx-hostname"] = HOSTILE_MX
    detail["failure-reason-code"] = HOSTILE_REASON
    return doc


@dataclass
class Result:
    status: int
    out: str
    err: str


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    """`tlsrpt ARGV` in this process, stdout and stderr captured."""
    capsys.readouterr()
    try:
        status = main(list(argv))
    except SystemExit as exc:  # argparse refusing an argument
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return Result(status, out, err)


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "TLSRPT_DATABASE_URL"}
    }
    env["TERM"] = "xterm-256color"
    env.update(extra)
    return env


def run_process(
    *argv: str,
    cwd: Path,
    stdout_tty: bool = True,
    stderr_tty: bool = True,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """`tlsrpt ARGV` as a process; stdout and/or stderr on one real
    pseudo-terminal 200 columns wide (what it wrote there is returned as the
    stream of each that was on it), the others on pipes."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlsrpt", *argv],
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_tty else subprocess.PIPE,
        stderr=slave if stderr_tty else subprocess.PIPE,
        cwd=cwd,
        env=env or clean_env(),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    piped_out, piped_err = proc.communicate(timeout=120)
    tty = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    out = tty if stdout_tty else piped_out.decode()
    # stderr on the terminal is in `out` already when stdout is there too
    err_on_tty = "" if stdout_tty else tty
    return proc.returncode, out, err_on_tty if stderr_tty else piped_err.decode()
