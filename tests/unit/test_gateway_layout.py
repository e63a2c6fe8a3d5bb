"""The gateway's layout: each folder imports only the folders inward of it.

    domain/        pure rules and values: nothing else of the gateway
    presentation/  wording and QR for people: the domain
    stores/        what the gateway keeps: the domain (and the outbox's document helpers)
    events/        handlers, outbox, resends, change feed, notices: domain and stores
    use_cases/     login, administration, self-service: all of the above
    api/, web/     the two edges: use cases and what they show; never each other, never
                   the event handlers
    cli/           command-line programs: stores, settings, the demo directory

Only the composition root (app.py, __main__.py) sees everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[2] / "services/gateway"
PREFIX = "services.gateway."
ALLOWED: dict[str, tuple[str, ...]] = {
    "domain": ("domain",),
    "presentation": ("domain", "presentation"),
    # The logins and operations documents keep the events they await (outbox.py).
    "stores": ("domain", "stores", "events.outbox"),
    "events": ("domain", "stores", "events"),
    "use_cases": ("domain", "stores", "events", "presentation", "use_cases"),
    "api": ("domain", "stores", "use_cases", "presentation", "settings", "state", "api"),
    "web": ("domain", "stores", "use_cases", "presentation", "settings", "web"),
    "cli": ("cli", "settings", "stores", "web.directory"),
}
TOP_LEVEL = {
    "access.py",  # every request counted, timed and logged, api/ and web/ alike
    *("__init__.py", "__main__.py", "app.py", "settings.py", "state.py", "readiness.py"),
    "upgrade.py",  # data from before organizations, once (its docstring says when it goes)
}


def imported(path: Path) -> set[str]:
    """The gateway modules ``path`` imports, without the package prefix; a relative
    import counts as ``relative`` (the layout is written in absolute names only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.add(PREFIX + "relative")
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == PREFIX.rstrip("."):  # from services.gateway import app
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n.removeprefix(PREFIX) for n in names if n.startswith(PREFIX)}


def outward(folder: str, path: Path) -> set[str]:
    """What ``path`` in ``folder`` imports that the folder may not."""
    return {n for n in imported(path) if not n.startswith(ALLOWED[folder])}


def folder_modules() -> list[tuple[str, Path]]:
    return [
        (folder, path) for folder in ALLOWED for path in sorted((GATEWAY / folder).glob("*.py"))
    ]


@pytest.mark.parametrize(
    ("folder", "path"), folder_modules(), ids=lambda v: v if isinstance(v, str) else v.name
)
def test_each_folder_imports_only_what_lies_inward_of_it(folder: str, path: Path) -> None:
    assert outward(folder, path) == set(), f"{folder}/{path.name} reaches out"


def test_the_core_has_no_loose_modules_left_at_the_top() -> None:
    """A module of the core lives in the folder of what it is: the top level keeps only
    the composition root, the settings, the typed state and the readiness check."""
    loose = {p.name for p in GATEWAY.glob("*.py")} - TOP_LEVEL
    assert loose == set()
    assert {p.name for p in GATEWAY.iterdir() if p.is_dir() and p.name != "__pycache__"} == {
        *ALLOWED
    }


@pytest.mark.parametrize(
    "line",
    [
        "from services.gateway.use_cases.login import LoginFlow",
        "import services.gateway.app",
        "from services.gateway import app",
        "from ..api import routes",
    ],
)
def test_the_rules_catch_an_import_the_wrong_way(line: str, tmp_path: Path) -> None:
    sneaky = tmp_path / "rule.py"
    sneaky.write_text(line + "\n")
    assert outward("domain", sneaky) != set()
    assert outward("domain", GATEWAY / "domain/login.py") == set()


def test_the_qr_code_has_a_neutral_module_both_edges_use() -> None:
    assert "presentation.qr" in imported(GATEWAY / "api/schemas.py")
    assert "presentation.qr" in imported(GATEWAY / "web/page_models.py")
