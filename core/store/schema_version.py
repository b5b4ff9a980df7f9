"""Whether a database's schema is already at the newest migration, told without alembic.

Opening the store brings the schema to the newest migration; on every start but the first there is
nothing to do, and importing alembic (with mako and pygments) to find that out costs ~0.1 s of each
command's start. The newest revisions are read from the migration files' own `revision` and
`down_revision` lines, the stored one from alembic's own table; anything else goes through alembic.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sqlalchemy as sa

VERSIONS_DIR = Path(__file__).resolve().parent.parent / "migrations" / "versions"
_NAMES = frozenset({"revision", "down_revision"})


def head_revisions(versions_dir: Path = VERSIONS_DIR) -> frozenset[str]:
    """The revisions no other revision follows (one, unless migrations branched)."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for path in versions_dir.glob("*.py"):
        values = _assignments(path)
        if not isinstance(revision := values.get("revision"), str):
            continue
        revisions.add(revision)
        down = values.get("down_revision")
        if isinstance(down, str):
            followed.add(down)
        elif isinstance(down, tuple | list):  # a merge follows several
            followed.update(str(d) for d in down)
    return frozenset(revisions - followed)


def _assignments(path: Path) -> dict[str, object]:
    """The module-level `revision = …` and `down_revision = …` of a migration file, as their values."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in _NAMES:
            found[target.id] = ast.literal_eval(value)
    return found


def stored_revisions(engine: sa.Engine) -> frozenset[str]:
    """The revisions alembic recorded in the database (none when it has never been migrated)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return frozenset()
        return frozenset(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def at_head(engine: sa.Engine) -> bool:
    """Whether the schema is at the newest migration already (then there is nothing to upgrade)."""
    heads = head_revisions()
    return bool(heads) and stored_revisions(engine) == heads
