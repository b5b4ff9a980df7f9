"""The roster of worker processes: each says it is alive (its host, threads, the tasks it runs) with every heartbeat,
so `/status`, `dockhand status` and the TUI list the workers of every machine on the database."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, delete, select

from core.models import WorkerProcess, utcnow
from core.store.database import Database

SILENCE = timedelta(seconds=60)  # a process not heard from for this long is not listed (it beats every few seconds)


class WorkerRoster:
    def __init__(self, db: Database, *, heartbeat_seconds: float = 2.0) -> None:
        """A process is listed while it was heard from within a minute (or three heartbeats, if longer)."""
        self.db = db
        self.silence = max(SILENCE, timedelta(seconds=3 * heartbeat_seconds))

    def beat(self, process_id: str, *, threads: int, running: int) -> None:
        host, _, rest = process_id.partition(":")
        pid = rest.partition(":")[0]
        now = utcnow()
        with self.db.write() as session:
            row = session.get(WorkerProcess, process_id)
            if row is None:
                row = WorkerProcess(id=process_id, host=host, pid=int(pid) if pid.isdigit() else 0, started_at=now)
            row.threads, row.running, row.seen_at = threads, running, now
            session.add(row)

    def leave(self, process_id: str) -> None:
        with self.db.write() as session:
            session.execute(delete(WorkerProcess).where(col(WorkerProcess.id) == process_id))

    def alive(self) -> list[WorkerProcess]:
        """The processes heard from lately, by host."""
        with self.db.read() as session:
            query = select(WorkerProcess).where(col(WorkerProcess.seen_at) >= utcnow() - self.silence)
            return list(session.exec(query.order_by(col(WorkerProcess.host), col(WorkerProcess.started_at))))

    def prune(self, older_than: timedelta = timedelta(days=1)) -> int:
        """Forget processes not heard from for a long time (they died without leaving)."""
        with self.db.write() as session:
            gone = delete(WorkerProcess).where(col(WorkerProcess.seen_at) < utcnow() - older_than)
            return int(session.execute(gone).rowcount)  # type: ignore[attr-defined]
