"""The layers hold: read from the source's imports (ast), not from what runs.

sync/, forms/, media/ and messages/ never import server/; forms/, media/ and
messages/ import no Flask, SQLAlchemy or CouchDB client (nor `requests`),
so the pure core is usable and testable without a server; messages/ imports
nothing of Sotay at all (docs/architecture.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WEB_AND_DATABASE = {"flask", "flask_sqlalchemy", "sqlalchemy", "ibmcloudant",
                    "ibm_cloud_sdk_core", "requests", "psycopg", "waitress", "svcs"}
SOTAY = {"server", "sync", "forms", "media", "messages"}
FORBIDDEN = {
    "sync": {"server"},
    "forms": {"server", "sync"} | WEB_AND_DATABASE,
    "media": {"server", "sync"} | WEB_AND_DATABASE,
    "messages": SOTAY - {"messages"} | WEB_AND_DATABASE,
}


def imported_packages(path: Path) -> set[str]:
    """The top-level packages a module imports, wherever in it (functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" \
                and node.args and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value).split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_allows(package):
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, f"{package}/ has no modules"
    wrong = {str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
             for path in modules}
    assert {path: names for path, names in wrong.items() if names} == {}


def test_the_reader_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from server.models import db\n    import flask.json\n")
    assert imported_packages(module) == {"server", "flask"}
