"""Cooperative cancellation for a running task."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from enum import Enum

from core.errors import TaskCancelledError

log = logging.getLogger(__name__)


class StopKind(Enum):
    """Why a running task is being stopped."""

    CANCELLED = "cancelled"  # someone asked; the task ends cancelled
    LEASE_LOST = "lease-lost"  # another worker may own it now; this attempt's result is discarded
    SHUTDOWN = "shutdown"  # this process is stopping; the task goes back to the queue


class CancelToken:
    """Set once when a task must stop; stages poll it or register a callback that stops their work."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.reason = ""
        self.kind = StopKind.CANCELLED

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: str, kind: StopKind = StopKind.CANCELLED) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self.kind = kind
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("cancel callback %r failed", callback)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` on cancellation (at once if already cancelled); returns an unregister function."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._discard(callback)
        callback()
        return lambda: None

    def _discard(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise TaskCancelledError(self.reason or "cancelled")
