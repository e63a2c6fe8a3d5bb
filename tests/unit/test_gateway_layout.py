"""The gateway's layout: api/ and web/ import the core; the core imports neither, and
neither imports the other. Only the composition root (app.py, __main__.py) sees all."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[2] / "services/gateway"
COMPOSITION = {"app.py", "__main__.py"}


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.startswith("services.gateway")}


def modules(where: Path) -> list[Path]:
    return sorted(where.glob("*.py"))


@pytest.mark.parametrize(
    "path",
    [p for p in modules(GATEWAY) if p.name not in COMPOSITION],
    ids=lambda p: p.name,
)
def test_the_core_imports_neither_the_api_nor_the_pages(path: Path) -> None:
    outward = {
        n for n in imported(path) if n.startswith(("services.gateway.api", "services.gateway.web"))
    }
    assert outward == set()


@pytest.mark.parametrize(
    ("package", "other"), [("api", "services.gateway.web"), ("web", "services.gateway.api")]
)
def test_the_api_and_the_pages_do_not_import_each_other(package: str, other: str) -> None:
    for path in modules(GATEWAY / package):
        assert not {n for n in imported(path) if n.startswith(other)}, path.name


def test_the_qr_code_has_a_neutral_module_both_use() -> None:
    assert "services.gateway.qr" in imported(GATEWAY / "api/schemas.py")
    assert "services.gateway.qr" in imported(GATEWAY / "web/page_models.py")
