"""The store itself: SQLite tuning, migrations that match the models, atomic writes, UTC times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

from core.migrate import current_revision, head_revision
from core.models import Task, TaskLog
from core.states import TaskType
from core.store.database import Database


def test_sqlite_is_tuned_for_concurrent_writers(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_migrations_reach_head_and_match_the_models(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    db.migrate()  # idempotent
    assert current_revision(db.engine) == head_revision() is not None
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_a_failed_write_transaction_leaves_nothing_behind(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    with pytest.raises(RuntimeError), db.write() as session:
        session.add(Task(id="t1", type=TaskType.CUSTOM))
        session.flush()
        session.add(TaskLog(task_id="t1", line="half way"))
        session.flush()
        raise RuntimeError("crash between two writes")
    with db.read() as session:
        assert session.exec(select(Task)).all() == [] and session.exec(select(TaskLog)).all() == []


def test_foreign_keys_are_enforced(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    with pytest.raises(sa.exc.IntegrityError), db.write() as session:
        session.add(TaskLog(task_id="no-such-task", line="orphan"))


def test_times_come_back_aware_utc(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    local = datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with db.write() as session:
        session.add(Task(id="t1", type=TaskType.CUSTOM, run_after=local))
    with db.read() as session:
        task = session.get(Task, "t1")
    assert task is not None and task.run_after == local and task.run_after.tzinfo is UTC
    with pytest.raises(sa.exc.StatementError, match="naive"), db.write() as session:
        session.add(Task(id="t2", type=TaskType.CUSTOM, run_after=datetime(2026, 1, 1)))


def test_old_webhook_deliveries_are_pruned(database_url: str) -> None:
    from core.models import WebhookDelivery, utcnow
    from core.store.deliveries import DeliveryLog

    db = Database(database_url)
    db.migrate()
    log = DeliveryLog(db)
    assert log.record(source="github", delivery_id="old") and log.record(source="github", delivery_id="new")
    assert not log.record(source="github", delivery_id="new")
    with db.write() as session:
        old = session.exec(select(WebhookDelivery).where(WebhookDelivery.delivery_id == "old")).one()
        old.received_at = utcnow() - timedelta(days=8)
    assert log.prune() == 1
    assert log.record(source="github", delivery_id="old"), "a pruned delivery is new again"
    assert not log.record(source="github", delivery_id="new")


def test_a_delivery_is_recorded_at_once_only_when_no_writer_holds_the_store(database_url: str) -> None:
    import sqlite3
    import threading

    from core.store.deliveries import DeliveryLog, NewDelivery

    db = Database(database_url)
    db.migrate()
    log = DeliveryLog(db)

    def now(delivery_id: str) -> bool | None:
        return log.record_now(NewDelivery(source="github", delivery_id=delivery_id))

    if not db.is_sqlite:  # its writes go over the network: never on the caller's event loop
        assert now("pg") is None
        return
    assert now("a") is True
    assert now("a") is False, "a redelivery"
    holding, release = threading.Event(), threading.Event()

    def hold_a_write() -> None:
        with db.write():
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold_a_write)
    holder.start()
    holding.wait(30)
    assert now("b") is None, "another writer of this process holds it"
    release.set()
    holder.join()
    other = sqlite3.connect(str(db.url.database), isolation_level=None, check_same_thread=False)  # another process
    other.execute("BEGIN IMMEDIATE")
    assert now("b") is None, "not after SQLite's 30-second busy timeout"
    threading.Timer(0.3, other.rollback).start()
    assert log.record(source="github", delivery_id="b"), "a plain write still waits for its turn"
    other.close()
    assert not log.record(source="github", delivery_id="b") and log.record_now(
        NewDelivery(source="github", delivery_id="c")
    )


def test_the_store_and_its_folder_are_private_to_their_user(tmp_path: Path) -> None:
    """Task logs, payloads and the audit trail are in the database: other local users must not read them."""
    import stat

    from core.store.database import Database

    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'dockhand.db'}")
    db.migrate()
    with db.engine.begin() as connection:  # a write, so that the -wal file exists too
        connection.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
    try:
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for name in ("dockhand.db", "dockhand.db-wal"):
            if (data / name).exists():
                assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
        assert (data / "dockhand.db-wal").exists() or (data / "dockhand.db").exists()
    finally:
        db.dispose()


def test_text_with_a_nul_is_stored_on_every_store(database_url: str) -> None:
    """PostgreSQL's text cannot hold U+0000: it arrives as U+FFFD there, instead of failing the write."""
    db = Database(database_url)
    db.migrate()
    with db.write() as session:
        session.add(Task(id="nul-task", type=TaskType.CUSTOM, payload={"command": "a\x00b"}, error="bad\x00byte"))
    with db.read() as session:
        task = session.get(Task, "nul-task")
        assert task is not None and task.error in ("bad\x00byte", "bad\ufffdbyte")
        assert task.payload == {"command": "a\x00b"}, "JSON escapes it"
        found = session.exec(select(Task).where(Task.error == "bad\x00byte")).all()
        assert [t.id for t in found] == ["nul-task"], "a lookup by the same text finds it on both"
    db.dispose()
