"""Every README Python example imports what it uses from a front door."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
# An import statement: one line, or a parenthesized list over several.
_IMPORT = re.compile(r"^(?:from\s+\S+\s+)?import\s+(?:\([^)]*\)|[^\n]*)", re.MULTILINE)


def _imports() -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    for block in _BLOCK.findall(README.read_text("utf-8")):
        for statement in _IMPORT.findall(block):
            node = ast.parse(statement).body[0]
            assert isinstance(node, ast.Import | ast.ImportFrom)
            found.append(node)
    return found


def test_readme_examples_have_imports_to_check() -> None:
    modules = {n.module for n in _imports() if isinstance(n, ast.ImportFrom)}
    assert {"tlsrpt.ingest", "tlsrpt.store", "tlsrpt.records"} <= modules


def test_every_readme_import_resolves() -> None:
    for node in _imports():
        exec(compile(ast.Module([node], []), str(README), "exec"), {})  # noqa: S102


def test_readme_imports_only_front_doors_and_their_public_names() -> None:
    for node in _imports():
        if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("tlsrpt"):
            continue
        assert node.module is not None and node.module.count(".") == 1, node.module
        exported = importlib.import_module(node.module).__all__
        for alias in node.names:
            assert alias.name in exported, f"{node.module}.{alias.name} is not in __all__"


def test_front_doors_load_their_modules_on_first_use() -> None:
    code = (
        "import sys, tlsrpt.ingest, tlsrpt.store\n"
        "print(sorted(m for m in ('sqlalchemy', 'tlsrpt.ingest.pipeline', 'tlsrpt.store.engine')"
        " if m in sys.modules))\n"
        "from tlsrpt.ingest import ingest\n"
        "print('tlsrpt.ingest.pipeline' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split("\n")[:2] == ["[]", "True"]


def test_a_name_not_exported_is_an_attribute_error() -> None:
    import tlsrpt.ingest
    import tlsrpt.store

    for module in (tlsrpt.ingest, tlsrpt.store):
        assert sorted(module.__all__) == module.__all__
        assert set(module.__all__) <= set(dir(module))
        with pytest.raises(AttributeError):
            module.no_such_name  # noqa: B018
