"""Task events as subscribers receive them, and the bus that fans them out after their transaction commits
(`core/store/journal.py` stores them).

Subscribers (Slack thread, GitHub comment, TUI, metrics) each get their own bounded queue and
thread, so a slow subscriber loses its oldest-undelivered events (counted) rather than stalling a
task, and a failing one is logged and counted rather than breaking anything.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from core.models import TaskEvent
from core.states import EventKind, TaskStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TaskEventRecord:
    """An immutable view of a stored task event, as subscribers receive it."""

    id: int
    task_id: str
    kind: EventKind
    status: TaskStatus | None
    stage: str | None
    message: str
    data: Mapping[str, Any]
    created_at: datetime

    @classmethod
    def from_row(cls, row: TaskEvent) -> TaskEventRecord:
        assert row.id is not None, "event must be flushed before it is published"
        return cls(
            id=row.id,
            task_id=row.task_id,
            kind=EventKind(row.kind),
            status=TaskStatus(row.status) if row.status is not None else None,
            stage=row.stage,
            message=row.message,
            data=MappingProxyType(dict(row.data or {})),
            created_at=row.created_at,
        )


Subscriber = Callable[[TaskEventRecord], None]
_STOP = object()


@dataclass
class Subscription:
    name: str
    handler: Subscriber
    maxsize: int
    delivered: int = 0
    dropped: int = 0
    failed: int = 0
    _queue: queue.Queue[Any] = field(init=False)
    _thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self._queue = queue.Queue(maxsize=self.maxsize)
        self._thread = threading.Thread(target=self._run, name=f"events-{self.name}", daemon=True)
        self._thread.start()

    def offer(self, event: TaskEventRecord) -> None:
        """Queue an event; when full, drop the oldest undelivered one so the newest (e.g. FINISHED) gets through."""
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                self.handler(item)
                self.delivered += 1
            except Exception:
                self.failed += 1
                log.exception("event subscriber %r failed on event %s of task %s", self.name, item.id, item.task_id)

    def close(self, timeout: float = 2.0) -> None:
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("event subscriber %r did not drain; dropping %d events", self.name, self._queue.qsize())
            return
        self._thread.join(timeout)


class EventBus:
    """In-process fan-out of task events to subscribers; never blocks the publisher."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []

    def subscribe(self, handler: Subscriber, *, name: str, maxsize: int = 1000) -> Subscription:
        sub = Subscription(name=name, handler=handler, maxsize=maxsize)
        with self._lock:
            self._subs.append(sub)
        return sub

    def publish(self, events: list[TaskEventRecord]) -> None:
        with self._lock:
            subs = list(self._subs)
        for event in events:
            for sub in subs:
                sub.offer(event)

    @property
    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return list(self._subs)

    def close(self) -> None:
        with self._lock:
            subs, self._subs = self._subs, []
        for sub in subs:
            sub.close()
