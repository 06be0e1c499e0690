"""The `tlsrpt` entry point: lazy command loading, help, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tlsrpt import cli


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tlsrpt", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("module", cli.COMMAND_MODULES)
def test_each_module_registers_its_verb(module):
    parser = cli.build_parser([cli.command_name(module), "--help"])
    verbs = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert list(verbs) == [cli.command_name(module)]


def test_help_lists_every_command():
    out = run("--help").stdout
    for module in cli.COMMAND_MODULES:
        assert cli.command_name(module) in out


def test_version_loads_no_command_module():
    code = (
        "import sys; from tlsrpt.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('tlsrpt.cli.') "
        "and m not in ('tlsrpt.cli.output', 'tlsrpt.cli.terminal')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_unknown_verb_and_no_verb_are_usage_errors():
    unknown = run("frobnicate")
    assert unknown.returncode == 2
    assert "invalid choice" in unknown.stderr
    assert run().returncode == 2
