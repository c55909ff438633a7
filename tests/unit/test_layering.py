"""Dependencies point one way: ledger is pure; http_api never touches eventsourcing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = frozenset(__import__("sys").stdlib_module_names)

ALLOWED = {
    "ledger": {"ledger", "eventsourcing.domain"},
    "commands": {"commands", "ledger", "eventsourcing", "psycopg", "cryptography", "pyotp"},
    "projections": {"projections", "ledger", "eventsourcing", "psycopg", "psycopg_pool"},
}
FORBIDDEN_IN_HTTP = ("eventsourcing",)


def imports_of(package: str) -> list[tuple[Path, str]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.extend((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
    return found


def allowed(module: str, prefixes: set[str]) -> bool:
    top = module.split(".", maxsplit=1)[0]
    if top in STDLIB:
        return True
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_design_allows(package: str) -> None:
    bad = [f"{p.name}: {m}" for p, m in imports_of(package) if not allowed(m, ALLOWED[package])]
    assert bad == []


def test_http_api_never_imports_eventsourcing() -> None:
    bad = [f"{p.name}: {m}" for p, m in imports_of("http_api") if m.startswith(FORBIDDEN_IN_HTTP)]
    assert bad == []
