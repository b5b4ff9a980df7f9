"""The database: one engine per process, SQLite tuned for concurrent writers, PostgreSQL as is.

Writes go through `Database.write()`, a transaction that on SQLite starts with
``BEGIN IMMEDIATE``: the write lock is taken up front (waiting up to the busy timeout), so a write
transaction never fails half way on a lock upgrade, and either commits whole or rolls back whole.
`Database.claim_lock()` serialises task claims across threads and processes on both backends.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session

from core.store.schema_version import at_head

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
_CLAIM_LOCK_KEY = 0x646F636B  # "dock": the PostgreSQL advisory lock guarding the queue's serial changes
_REPOSITORY_LOCK_SPACE = 0x7265706F  # "repo": two-key advisory locks, one per repository, taken by claims
_MIGRATE_LOCK_KEY = 0x6D696772  # "migr"

_WRITE_OPTION = "dockhand_write"


class Database:
    """Owns the engine; hands out read sessions and atomic write transactions."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                _private_file(Path(self.url.database))
            self.engine = sa.create_engine(
                self.url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                pool_size=20,
                max_overflow=20,
            )
            self._tune_sqlite()
        else:
            self.engine = sa.create_engine(self.url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
            self._tune_postgres()
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        # This process's SQLite writers queue here, woken the moment the lock is free. Left to SQLite's busy
        # handler instead, a writer that finds the lock held sleeps 1, 2, 5, 10… ms between tries: the tail of
        # every short write (a webhook's insert) under concurrency. Other processes still meet the busy handler.
        self._writers = threading.RLock() if self.is_sqlite else None

    def _tune_sqlite(self) -> None:
        @sa.event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @sa.event.listens_for(self.engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    def _tune_postgres(self) -> None:
        @sa.event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            if hasattr(dbapi_conn, "adapters"):  # psycopg 3
                from core.store.pg_text import register_nul_free_text

                register_nul_free_text(dbapi_conn.adapters)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads; nothing it does is committed."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """An atomic write transaction: commits on success, rolls back on any exception."""
        with self._turn(), Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def write_now(self) -> Iterator[sa.Connection | None]:
        """A write transaction on a connection if one can begin without waiting, else None: SQLite with no
        other writer in this process or another one. For a short write on an event loop, where waiting for
        the lock would stall every request (PostgreSQL always answers None: its writes go over the network)."""
        if self._writers is None or not self._writers.acquire(blocking=False):
            yield None
            return
        try:
            with self._write_engine.connect() as conn:
                raw = conn.connection.cursor()  # outside any transaction: a PRAGMA takes effect at once
                raw.execute("PRAGMA busy_timeout=0")  # another process holds the lock: fail now, not in 30 s
                try:
                    try:
                        conn.begin()  # BEGIN IMMEDIATE: takes the write lock or fails at once
                    except sa.exc.OperationalError:
                        conn.rollback()
                        yield None
                        return
                    try:
                        yield conn
                    except BaseException:
                        conn.rollback()
                        raise
                    conn.commit()
                finally:
                    raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                    raw.close()
        finally:
            self._writers.release()

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """Wait for this process's other SQLite writers to finish (as long as SQLite itself would wait; past that
        go on, and SQLite's busy timeout decides, as without this lock)."""
        if self._writers is None:
            yield
            return
        held = self._writers.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            yield
        finally:
            if held:
                self._writers.release()

    def claim_lock(self, session: Session) -> None:
        """Serialise what must not interleave (rate-limited submissions, sweeps, retries, cancels, decisions):
        the SQLite write lock already does; PostgreSQL takes an advisory lock. Claims on PostgreSQL do not take
        it: they lock their candidate row (`FOR UPDATE SKIP LOCKED`) and its repository (`try_repository_lock`)."""
        if not self.is_sqlite:
            session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_LOCK_KEY})

    def xact_lock(self, session: Session, space: int, name: str) -> None:
        """Wait for, then hold until the transaction ends, the lock named `name` in `space` (PostgreSQL; on SQLite
        the write lock already serialises writers). Two-key advisory locks: a key space apart from one-key ones."""
        if not self.is_sqlite:
            session.execute(
                sa.text("SELECT pg_advisory_xact_lock(:space, hashtext(:name))"), {"space": space, "name": name}
            )

    def try_repository_lock(self, session: Session, repository: str) -> bool:
        """This repository's claim lock until the transaction ends, if no other claim holds it now (PostgreSQL;
        on SQLite the write lock serialises every claim). Never waits: a claim that looked at several
        repositories cannot deadlock with another. Two-key advisory locks: a key space apart from one-key ones."""
        if self.is_sqlite:
            return True
        taken = session.execute(
            sa.text("SELECT pg_try_advisory_xact_lock(:space, hashtext(:repository))"),
            {"space": _REPOSITORY_LOCK_SPACE, "repository": repository},
        ).scalar()
        return bool(taken)

    def migrate(self) -> None:
        """Bring the schema to the newest migration; safe when several processes start at once."""
        if at_head(self.engine):  # every start but the first: alembic is not even imported
            return
        from core.migrate import upgrade_to_head

        if self.is_sqlite:
            lock_path = Path(f"{self.url.database or 'dockhand'}.migrate.lock")
            with lock_path.open("w") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                upgrade_to_head(self.engine)
        else:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATE_LOCK_KEY})
                try:
                    upgrade_to_head(self.engine)
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATE_LOCK_KEY})
                    conn.commit()

    def healthy(self) -> bool:
        """Whether a query gets an answer now."""
        try:
            with self.read() as session:
                session.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def describe(self) -> str:
        """The URL, with its password hidden."""
        return self.url.render_as_string(hide_password=True)

    def revision(self) -> str | None:
        """The migration the schema is at."""
        from core.migrate import current_revision

        return current_revision(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def _private_file(path: Path) -> None:
    """The database file and its folder readable by this user only (0600 in a 0700 folder when dockhand makes
    them): task logs, payloads and the audit trail are in it. SQLite gives its -wal and -shm files the
    database file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
