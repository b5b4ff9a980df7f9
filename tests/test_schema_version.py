"""The schema's newest revision told without alembic (`core/store/schema_version.py`), against alembic's own."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from core.migrate import head_revision
from core.store.database import Database
from core.store.schema_version import at_head, head_revisions, stored_revisions


def test_the_head_read_from_the_files_is_alembics() -> None:
    assert head_revisions() == {head_revision()}


def test_a_fresh_database_is_not_at_head_and_a_migrated_one_is(database_url: str) -> None:
    db = Database(database_url)
    assert stored_revisions(db.engine) == frozenset() and not at_head(db.engine)
    db.migrate()
    assert stored_revisions(db.engine) == head_revisions() and at_head(db.engine)
    db.dispose()


def test_a_database_behind_the_files_is_not_at_head(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    with db.engine.begin() as conn:  # as if written by the release before the newest migration
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    assert not at_head(db.engine)
    db.dispose()


def test_merged_branches_have_one_head(tmp_path: Path) -> None:
    files = {
        "a.py": 'revision = "a"\ndown_revision = None\n',
        "b.py": 'revision = "b"\ndown_revision = "a"\n',
        "c.py": 'revision: str = "c"\ndown_revision = "a"\n',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert head_revisions(tmp_path) == {"b", "c"}
    (tmp_path / "d.py").write_text('revision = "d"\ndown_revision = ("b", "c")\n')
    assert head_revisions(tmp_path) == {"d"}
