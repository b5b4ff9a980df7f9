"""What the processes on one database say to each other (PostgreSQL): new work is announced with NOTIFY and heard
with LISTEN, so an idle worker on any machine claims it at once instead of at its next poll; and one process — the
holder of a session advisory lock — leads: it runs the fleet's periodic jobs (lease sweeps, retention, approval
expiry, cron schedules) once for all. When the leader dies its connection closes, the lock is free, and the next
process that asks takes it over.

On SQLite (one machine) new work is announced by ringing the other processes' doorbells (`core.store.doorbell`),
and every process leads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from core.process_identity import process_identity
from core.store.database import Database
from core.store.doorbell import Doorbell

log = logging.getLogger(__name__)

CHANNEL = "dockhand_work"
_LEADER_LOCK_KEY = 0x646F6C64  # "dold": held for as long as one process leads the fleet's periodic jobs
LISTEN_TIMEOUT = 1.0  # how often the listener looks whether it should stop
RECONNECT_SECONDS = 2.0


class Fleet:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.shared = not db.is_sqlite
        sqlite_file = db.url.database if db.is_sqlite and db.url.database not in (None, "", ":memory:") else None
        self.doorbell = Doorbell.beside(Path(sqlite_file)) if sqlite_file else None
        # Its sessions are named after this process, so who leads can be seen (`leader`, pg_stat_activity).
        # Keepalives both ways: a leader whose machine vanished loses the lock within about half a minute, not
        # the hours the operating system's defaults take.
        named = {
            "application_name": f"dockhand {process_identity()}"[:63],
            "connect_timeout": 10,
            **{"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3},
            "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3",
        }
        self._engine = sa.create_engine(db.url, poolclass=NullPool, connect_args=named) if self.shared else None
        self._closed = False
        self._conn: Any = None  # the DBAPI connection that asks for (and holds) the leader lock
        self._holding = False
        self._leader_lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    # --- new work ----------------------------------------------------------------------------
    def announce(self) -> None:
        """Tell every listening process that a task may be claimable now (after its transaction committed)."""
        if self.doorbell is not None:
            self.doorbell.ring()
        if not self.shared:
            return
        try:
            with self.db.write() as session:
                session.execute(sa.text(f"NOTIFY {CHANNEL}"))
        except sa.exc.SQLAlchemyError as exc:  # the others find it at their next poll
            log.warning("could not announce new work: %s", exc)

    def listen(self, on_wake: Callable[[], None]) -> None:
        """Call `on_wake` whenever another process announces work (a thread, until `close`)."""
        if self.doorbell is not None:
            self.doorbell.listen(on_wake)
        if not self.shared or self._listener is not None:
            return
        self._listener = threading.Thread(target=self._listen, args=(on_wake,), name="fleet-listener", daemon=True)
        self._listener.start()

    def _listen(self, on_wake: Callable[[], None]) -> None:
        assert self._engine is not None
        while not self._stop.is_set():
            try:
                raw = self._engine.raw_connection()
                try:
                    conn: Any = raw.driver_connection
                    conn.autocommit = True
                    conn.execute(f"LISTEN {CHANNEL}")
                    on_wake()  # what was announced while this connection was away
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=LISTEN_TIMEOUT, stop_after=1):
                            on_wake()
                finally:
                    raw.close()
            except Exception as exc:  # the database away for a moment: workers poll meanwhile
                if not self._stop.is_set():
                    log.warning("listening for new work failed (%s); again in %.0fs", exc, RECONNECT_SECONDS)
                    self._stop.wait(RECONNECT_SECONDS)

    # --- the leader --------------------------------------------------------------------------
    def leads(self) -> bool:
        """Whether this process leads the fleet's periodic jobs now (taking the lead if it is free). One
        connection is kept for asking: a lost connection loses the lead, and asks again on a new one."""
        if not self.shared:
            return True
        assert self._engine is not None
        with self._leader_lock:
            if self._closed:
                return False
            if self._conn is not None and not self._alive(self._conn):
                self._drop_connection()
            if self._conn is None:
                try:
                    self._conn = self._engine.raw_connection()
                    self._conn.driver_connection.autocommit = True
                except Exception as exc:
                    log.warning("cannot reach the database to ask for the lead: %s", exc)
                    return False
            if not self._holding:
                try:
                    query = "SELECT pg_try_advisory_lock(%s)"
                    row = self._conn.driver_connection.execute(query, (_LEADER_LOCK_KEY,)).fetchone()
                except Exception as exc:  # the connection broke meanwhile: ask again next time, on a new one
                    log.warning("could not ask for the lead: %s", exc)
                    self._drop_connection()
                    return False
                self._holding = bool(row and row[0])
                if self._holding:
                    log.info("this process now leads the periodic jobs")
            return self._holding

    def leader(self) -> str | None:
        """The process that leads now (`host:pid:nonce`, as its session is named); None: none, or SQLite."""
        if not self.shared:
            return None
        query = sa.text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :key AND l.objsubid = 1 "
            "AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        with self.db.read() as session:
            name = session.execute(query, {"key": _LEADER_LOCK_KEY}).scalar()
        return str(name).removeprefix("dockhand ") if name else None

    @staticmethod
    def _alive(raw: Any) -> bool:
        try:
            raw.driver_connection.execute("SELECT 1")
        except Exception:
            return False
        return True

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # the session ends: the lock (if it held it) with it
            except Exception as exc:
                log.debug("closing the leader connection: %s", exc)
        self._conn, self._holding = None, False

    def close(self) -> None:
        self._stop.set()
        if self.doorbell is not None:
            self.doorbell.close()
        with self._leader_lock:
            self._closed = True
        if self._listener is not None:
            self._listener.join(timeout=LISTEN_TIMEOUT + 1)
            self._listener = None
        with self._leader_lock:
            self._drop_connection()
        if self._engine is not None:
            self._engine.dispose()
