"""The layering the read model rests on, checked on the source: SQL is
built and run only under `tlsrpt/store` (its migrations included), and
nothing outside `tlsrpt/web` imports `tlsrpt.web` — the read model, the
CLI, export, the watcher and the receivers stand without the web layer
(serve's lifecycle alone starts it) — and only the CLI starts serve."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tlsrpt

SRC = Path(tlsrpt.__file__).parent
# Building SQL: SQLAlchemy Core constructors and raw text.
SQL_BUILDERS = {
    "select",
    "insert",
    "update",
    "delete",
    "text",
    "literal_column",
    "exists",
    "union",
    "union_all",
    "and_",
    "or_",
}
# Running SQL: the methods of a Connection / Session that take a statement.
SQL_RUNNERS = {"execute", "scalar", "scalars", "exec_driver_sql"}
# Outside `tlsrpt/web`, a module may import these `tlsrpt.web` modules, and
# only these: serve's lifecycle starts the web app (it builds the app and
# its listener sets the connection limits).
WEB_IMPORTS_ALLOWED = {
    "serve/lifecycle.py": {"tlsrpt.web.app"},
    "serve/listener.py": {"tlsrpt.web.connections"},
}


def _modules(outside: str) -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0] != outside)


def _sqlalchemy_names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names bound to the sqlalchemy package (or a submodule), and builder
    functions imported by name from it."""
    modules: set[str] = set()
    builders: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sqlalchemy":
                    modules.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            for alias in node.names:
                if alias.name in SQL_BUILDERS or alias.name in ("func", "sql"):
                    builders.add(alias.asname or alias.name)
    return modules, builders


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def sql_built(source: str) -> list[str]:
    """Where the source builds or runs SQL: `line: what`."""
    tree = ast.parse(source)
    modules, builders = _sqlalchemy_names(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in builders:
            found.append(f"{node.lineno}: {func.id}()")
        elif isinstance(func, ast.Attribute):
            root = _root(func)
            if func.attr in SQL_RUNNERS:
                found.append(f"{node.lineno}: .{func.attr}()")
            elif (
                root in modules and (func.attr in SQL_BUILDERS or ".func." in ast.unparse(func))
            ) or root in builders:
                found.append(f"{node.lineno}: {ast.unparse(func)}()")
    return found


def web_imports(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            if node.module != "tlsrpt":
                names = [node.module]
        found.update(n for n in names if n == "tlsrpt.web" or n.startswith("tlsrpt.web."))
    return found


def test_sql_only_under_store() -> None:
    offenders = {
        str(path.relative_to(SRC)): hits
        for path in _modules(outside="store")
        if (hits := sql_built(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_nothing_outside_web_imports_web() -> None:
    offenders = {}
    for path in _modules(outside="web"):
        name = path.relative_to(SRC).as_posix()
        extra = web_imports(path.read_text(encoding="utf-8")) - WEB_IMPORTS_ALLOWED.get(name, set())
        if extra:
            offenders[name] = sorted(extra)
    assert offenders == {}


def imports_of(source: str, package: str) -> set[str]:
    """The absolute imports of `package` (or its modules) in `source`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in found if n == package or n.startswith(package + ".")}


def test_receivers_import_neither_web_serve_nor_cli() -> None:
    for path in (SRC / "receive").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for above in ("tlsrpt.web", "tlsrpt.serve", "tlsrpt.cli"):
            assert not imports_of(source, above), (path, above)


def test_only_the_cli_starts_serve() -> None:
    offenders = {
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] not in ("serve", "cli")
        and imports_of(path.read_text(encoding="utf-8"), "tlsrpt.serve")
    }
    assert offenders == set()


def test_dashboard_does_not_read_through_the_api_package() -> None:
    dashboard = SRC / "web" / "dashboard"
    for path in dashboard.rglob("*.py"):
        imported = web_imports(path.read_text(encoding="utf-8"))
        assert not {n for n in imported if n.startswith("tlsrpt.web.api")}, path


@pytest.mark.parametrize(
    "source",
    [
        "import sqlalchemy as sa\nq = sa.select(t.c.id)\n",
        "import sqlalchemy\nsqlalchemy.text('SELECT 1')\n",
        "from sqlalchemy import select\nselect(t)\n",
        "from sqlalchemy import func\nfunc.max(t.c.id)\n",
        "import sqlalchemy as sa\nsa.func.count(t.c.id)\n",
        "conn.execute(query)\n",
        "n = conn.scalar(query)\n",
    ],
)
def test_the_check_sees_sql(source: str) -> None:
    assert sql_built(source)


@pytest.mark.parametrize(
    "source",
    [
        "import sqlalchemy as sa\ntry:\n    f()\nexcept sa.exc.DBAPIError:\n    pass\n",
        "from sqlalchemy.engine import Connection\ndef f(conn: Connection) -> None: ...\n",
        "conn.send(message)\n",
    ],
)
def test_the_check_allows_error_types_and_hints(source: str) -> None:
    assert sql_built(source) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from tlsrpt.web.api import reads\n", {"tlsrpt.web.api"}),
        ("import tlsrpt.web.app\n", {"tlsrpt.web.app"}),
        ("from tlsrpt import web\n", {"tlsrpt.web"}),
        ("from tlsrpt.store import reads\n", set()),
    ],
)
def test_the_check_sees_web_imports(source: str, expected: set[str]) -> None:
    assert web_imports(source) == expected
