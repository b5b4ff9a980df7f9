"""Task log lines: append-only, written in batches, tailed by id."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlmodel import col, select

from core.models import TaskLog, utcnow
from core.states import LogStream
from core.store.database import Database

MAX_LINE_CHARS = 8_000
BACKLOG_BATCHES = 20  # lines waiting, in batches, before a writer waits for the database


@dataclass(frozen=True, kw_only=True)
class LogLine:
    id: int
    task_id: str
    stream: LogStream
    line: str
    created_at: datetime


class TaskLogs:
    """The log store: append lines, tail from an id."""

    def __init__(self, db: Database, redact: Callable[[str], str] = lambda text: text) -> None:
        self.db = db
        self.redact = redact

    def append(self, task_id: str, lines: list[tuple[LogStream, str]]) -> None:
        if not lines:
            return
        now = utcnow()
        rows = [
            {"task_id": task_id, "stream": stream, "line": _clip(self.redact(text)), "created_at": now}
            for stream, text in lines
        ]
        with self.db.write() as session:  # one executemany of plain rows: no ORM object per line
            session.execute(insert(TaskLog.__table__), rows)  # type: ignore[attr-defined]

    def tail(self, task_id: str, *, after_id: int = 0, limit: int = 1000) -> list[LogLine]:
        with self.db.read() as session:
            rows = session.exec(
                select(TaskLog)
                .where(TaskLog.task_id == task_id, col(TaskLog.id) > after_id)
                .order_by(col(TaskLog.id))
                .limit(limit)
            ).all()
        return [_line(r) for r in rows]

    def last(self, task_id: str, count: int) -> list[LogLine]:
        """The last `count` lines (a long log is opened at its end)."""
        with self.db.read() as session:
            rows = session.exec(
                select(TaskLog).where(TaskLog.task_id == task_id).order_by(col(TaskLog.id).desc()).limit(count)
            ).all()
        return [_line(r) for r in reversed(rows)]

    def search(self, task_id: str, text: str, *, limit: int = 500) -> list[LogLine]:
        """Lines containing `text` (case-insensitive), newest first."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self.db.read() as session:
            rows = session.exec(
                select(TaskLog)
                .where(TaskLog.task_id == task_id, col(TaskLog.line).ilike(pattern, escape="\\"))
                .order_by(col(TaskLog.id).desc())
                .limit(limit)
            ).all()
        return [_line(r) for r in rows]

    def sink(self, task_id: str) -> LogSink:
        return LogSink(self, task_id)


def _line(row: TaskLog) -> LogLine:
    return LogLine(
        id=row.id or 0, task_id=row.task_id, stream=LogStream(row.stream), line=row.line, created_at=row.created_at
    )


def _clip(text: str) -> str:
    text = text.rstrip("\n").replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
    if len(text) > MAX_LINE_CHARS:
        return text[:MAX_LINE_CHARS] + f"… [{len(text) - MAX_LINE_CHARS} more characters]"
    return text


class LogSink:
    """A thread-safe buffered writer for one task's log; flushes by size or age — also when nothing more
    is written (a command that prints one line and then works quietly is seen at once by followers).

    Writing never waits for the database while the buffer is under its cap: a full batch is written by a
    background thread, so a command's output keeps streaming meanwhile. `flush` writes everything now.
    """

    def __init__(self, logs: TaskLogs, task_id: str, *, max_lines: int = 1000, max_age: float = 0.25) -> None:
        self._logs = logs
        self.task_id = task_id
        self._max_lines = max_lines
        self._max_age = max_age
        self._buffer: list[tuple[LogStream, str]] = []
        self._oldest = 0.0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._flush_lock = threading.Lock()
        self._flushing = False  # a background flush is under way
        self._redact: Callable[[str], str] = lambda text: text

    def hide(self, redact: Callable[[str], str]) -> None:
        """Also apply `redact` to every line of this task (e.g. to hide the task's own secret values)."""
        self._redact = redact

    def write(self, line: str, stream: LogStream = LogStream.STDOUT) -> None:
        line = self._redact(line)
        with self._lock:
            if not self._buffer:
                self._oldest = time.monotonic()
                if self._timer is None:
                    self._timer = threading.Timer(self._max_age, self._flush_late)
                    self._timer.daemon = True
                    self._timer.start()
            self._buffer.append((stream, line))
            waiting = len(self._buffer)
            due = waiting >= self._max_lines or time.monotonic() - self._oldest >= self._max_age
            start = due and not self._flushing
            if start:
                self._flushing = True
        if waiting >= self._max_lines * BACKLOG_BATCHES:  # the database cannot keep up: wait for it
            self.flush()
        elif start:
            threading.Thread(target=self._flush_behind, daemon=True, name=f"log-{self.task_id}").start()

    def _flush_late(self) -> None:
        """The timer's: what waited too long."""
        with self._lock:
            self._timer = None
        self._flush_quietly()

    def _flush_behind(self) -> None:
        """A full batch's, off the writer's thread."""
        try:
            self._flush_quietly()
        finally:
            with self._lock:
                self._flushing = False

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception:  # the next write or the final flush tries again
            logging.getLogger(__name__).exception("task %s: could not write its log", self.task_id)

    def system(self, line: str) -> None:
        self.write(line, LogStream.SYSTEM)

    def agent(self, line: str) -> None:
        for part in line.splitlines() or [""]:
            self.write(part, LogStream.AGENT)

    def flush(self) -> None:
        with self._flush_lock:  # one flush at a time, so batches reach the store in the order written
            with self._lock:
                batch, self._buffer = self._buffer, []
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
            try:
                self._logs.append(self.task_id, batch)
            except Exception:
                with self._lock:  # kept for the next flush, ahead of what came meanwhile
                    self._buffer[:0] = batch
                raise
