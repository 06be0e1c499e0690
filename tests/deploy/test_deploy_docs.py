"""The tlsrpt commands docs/deployment.md tells an operator to run parse as
tlsrpt commands, and the files it names exist, so the guide cannot drift
from the CLI and from deploy/."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tlsrpt.cli import build_parser

ROOT = Path(__file__).parents[2]
GUIDE = ROOT / "docs" / "deployment.md"
VERBS = {"db", "user", "domain", "token", "serve", "watch", "summary"}
# what runs tlsrpt in the guide: the program, the admin shell function, the
# image or compose service whose entry point is tlsrpt
RUNNERS = {"tlsrpt", "tlsrpt-admin", "/opt/tlsrpt/bin/tlsrpt", "localhost/tlsrpt"}
SHELL_END = re.compile(r"\s(?:&&|\|\||[|;<>#])")


def _shell_lines() -> list[str]:
    """Lines of the ```sh blocks and `inline code` of the prose, each cut at
    its first shell operator."""
    lines, inside = [], False
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```sh"
            continue
        lines += [line] if inside else re.findall(r"`([^`]+)`", line)
    return [SHELL_END.split(" " + line.strip(), maxsplit=1)[0].strip() for line in lines]


def _commands() -> list[list[str]]:
    found = []
    for line in _shell_lines():
        try:
            words = shlex.split(line)
        except ValueError:
            continue  # a line of a multi-line quoted string
        if words[:2] == ["docker", "compose"] and words[2:3] not in (["run"], ["exec"]):
            continue  # service names (`docker compose stop tlsrpt watch`)
        for i, word in enumerate(words[:-1]):
            if word in RUNNERS and words[i + 1] in VERBS:
                found.append(words[i + 1 :])
                break
    return found


def test_guide_commands_parse() -> None:
    commands = _commands()
    verbs = {argv[0] for argv in commands}
    assert {"db", "user", "domain"} <= verbs, commands
    for argv in commands:
        args = build_parser(argv).parse_args(argv)
        assert callable(args.func), argv


def test_guide_names_existing_files() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:deploy|tests/deploy)/[\w./-]+)`", text))
    named |= {m for m in re.findall(r"\]\(\.\./([\w./-]+)\)", text)}
    assert "deploy/Containerfile" in named
    for path in sorted(named):
        assert (ROOT / path).exists(), path
