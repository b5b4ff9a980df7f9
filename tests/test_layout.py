"""The import rules that keep the layout readable: the core depends on no front end and no backend, the
sandbox package on no front end, the one vendor SDK the core needs (the model's) is named in one module, and
only the store package talks to the database."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package → top-level names its modules (anywhere in them, functions included) must not import
FORBIDDEN = {
    "core": {"bot", "tui", "sandbox", "docker", "github", "slack_sdk", "slack_bolt", "textual", "starlette", "uvicorn"},
    "sandbox": {"bot", "tui", "github", "slack_sdk", "slack_bolt", "textual", "anthropic"},
    "tui": {"bot"},
}
# the only module of the core that imports the model's SDK
MODEL_CLIENT = "core/model_provider.py"
# where the database may be touched: the store package; besides it only the table definitions and the
# migrations runner (the migrations themselves are left out of `modules`)
STORE = "core/store"
DATABASE_LIBRARIES = {"sqlalchemy", "sqlmodel", "alembic", "psycopg", "psycopg2", "sqlite3"}
TABLE_DEFINITIONS = {"core/models.py", "core/migrate.py"}


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_import_only_what_their_layer_allows(package: str) -> None:
    broken = {
        str(path.relative_to(ROOT)): sorted(imported_names(path) & FORBIDDEN[package]) for path in modules(package)
    }
    assert {k: v for k, v in broken.items() if v} == {}


def test_the_core_names_the_model_sdk_in_one_module() -> None:
    importing = [str(p.relative_to(ROOT)) for p in modules("core") if "anthropic" in imported_names(p)]
    assert importing == [MODEL_CLIENT]


def test_no_module_outside_the_store_touches_the_database() -> None:
    touching = {
        name: sorted(found)
        for package in ("core", "bot", "tui", "sandbox")
        for path in modules(package)
        if not (name := str(path.relative_to(ROOT))).startswith(STORE + "/") and name not in TABLE_DEFINITIONS
        if (found := imported_names(path) & DATABASE_LIBRARIES)
    }
    assert touching == {}


def test_no_product_module_grows_past_450_lines() -> None:
    """A module that long holds more than one concept: split it before it grows further."""
    long = {
        str(path.relative_to(ROOT)): lines
        for package in ("core", "bot", "tui", "sandbox")
        for path in modules(package)
        if (lines := len(path.read_text().splitlines())) > 450
    }
    assert long == {}
