"""Which process holds a lease, and whether that process is known to be dead.

A worker's ID names its host, its process ID and a nonce of its own (`host:pid:nonce`). While it runs,
the process holds an exclusive `flock` on `<data dir>/workers/<its ID>.lock`. The kernel drops that
lock when the process ends, however it ends (`kill -9`, a crash, its container stopped), so another
process sharing the data directory (the same host, or a restarted container on the same volume) can
tell for certain that a worker is gone: its lock file is there and nobody holds it. Its tasks are then
recovered at once instead of when their lease runs out. Anything it cannot tell (no lock file: another
host, or an older version) is left to the lease.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import ClassVar

_SAFE = re.compile(r"[^A-Za-z0-9_.:-]")
STALE_SECONDS = 24 * 3600.0


@functools.cache
def _nonce() -> str:
    return secrets.token_hex(4)


def process_identity() -> str:
    """This process: `host:pid:nonce`. The nonce (random, once per process) keeps a restarted container's
    worker, with its predecessor's host name and PID, from taking that predecessor's identity."""
    return f"{socket.gethostname()}:{os.getpid()}:{_nonce()}"


class ProcessLiveness:
    """The lock files of the worker processes that share one data directory."""

    # Per process, not per instance: two cores in one process share its lock (flock would refuse a second).
    _held: ClassVar[dict[Path, tuple[int, int]]] = {}  # lock file → (descriptor, holders in this process)
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _lock_file(self, worker_id: str) -> Path:
        process = worker_id.split("/", 1)[0]  # `host:pid:ns/w0`: the process, not its thread
        return self.directory / f"{_SAFE.sub('_', process)[:200]}.lock"

    def hold(self, process_id: str) -> None:
        """Hold this process's lock (until `release`, or until the process ends)."""
        path = self._lock_file(process_id)
        with self._guard:
            if path in self._held:
                fd, holders = self._held[path]
                self._held[path] = (fd, holders + 1)
                return
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._prune()
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # our own ID: nobody else can hold it
            self._held[path] = (fd, 1)

    def release(self, process_id: str) -> None:
        path = self._lock_file(process_id)
        with self._guard:
            if path not in self._held:
                return
            fd, holders = self._held[path]
            if holders > 1:
                self._held[path] = (fd, holders - 1)
                return
            del self._held[path]
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)

    def known_dead(self, worker_id: str | None) -> bool:
        """True only when the worker's process surely ended: its lock file is here and nobody holds it."""
        if not worker_id:
            return False
        path = self._lock_file(worker_id)
        with self._guard:
            if path in self._held:
                return False  # this very process
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return False  # no lock file: a process elsewhere (or not one of ours): the lease decides
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # held: alive
        else:
            return True  # the file stays: each of the dead process's tasks is recognised (old files are pruned)
        finally:
            os.close(fd)

    def _prune(self) -> None:
        """Forget lock files of processes that ended over a day ago (no lease of theirs can still matter)."""
        cutoff = time.time() - STALE_SECONDS
        for path in self.directory.glob("*.lock"):
            try:
                if path.stat().st_mtime > cutoff or path in self._held:
                    continue
                fd = os.open(path, os.O_RDWR)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink()
            except OSError:
                pass  # held: its process lives
            finally:
                os.close(fd)
