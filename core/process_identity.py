"""Which process holds a lease, and whether that process is known to be dead.

A worker's ID names its host, its process ID and its PID namespace (`host:pid:ns`). A process on the
same host and in the same PID namespace can tell for certain that such a worker is gone (no process
has its PID), so its tasks are recovered at once instead of when the lease runs out. Anything it
cannot tell for certain (another host or namespace, an old-style ID, a PID now used by another
process) is left to the lease.
"""

from __future__ import annotations

import functools
import os
import socket


@functools.cache
def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""  # not Linux (or no /proc): never judge another process dead


def process_identity() -> str:
    """This process: `host:pid:ns` (the host name, the PID, the PID namespace's inode)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_pid_namespace()}"


def known_dead(worker_id: str | None) -> bool:
    """True only when the process behind `worker_id` (`host:pid:ns` or `host:pid:ns/thread`) surely no
    longer exists: it ran here, in this PID namespace, and no process has its PID now."""
    if not worker_id:
        return False
    host, _, rest = worker_id.split("/", 1)[0].partition(":")
    pid, _, namespace = rest.partition(":")
    if host != socket.gethostname() or not namespace or namespace != _pid_namespace() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # a process of another user has that PID: alive
        return False
    return False
