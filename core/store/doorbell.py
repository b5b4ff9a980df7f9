"""Wake-ups across the processes of one machine, for SQLite (which has no LISTEN/NOTIFY): a directory beside the
database file holds one UNIX datagram socket per listening process, and ringing sends each of them one byte.

A ring costs a directory listing and a `sendto` per listener, and reaches an idle worker in well under a
millisecond; nothing waits for an answer. A socket whose process died (`kill -9` leaves the file behind) refuses
the datagram and is removed by the next ring. A listener whose buffer is full already has wake-ups waiting, so
that ring is dropped. Every process still polls, so a lost ring only costs the poll interval.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".sock"
STOP_CHECK_SECONDS = 1.0  # how often a listener looks whether it should stop
_MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with its terminating NUL


class Doorbell:
    """The doorbells of the processes sharing one SQLite database (one directory beside the database file)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._name = f"{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender.setblocking(False)
        self._dir_fd: int | None = None  # opened when the directory's path is too long for a socket address
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self._guard = threading.Lock()
        self._fd_guard = threading.Lock()

    @classmethod
    def beside(cls, database_file: Path) -> Doorbell:
        return cls(database_file.with_name(database_file.name + ".doorbells"))

    def ring(self) -> None:
        """Wake every other listening process (best effort: they poll anyway)."""
        if self._stop.is_set():
            return
        try:
            names = [name for name in os.listdir(self.directory) if name.endswith(SUFFIX) and name != self._name]
        except FileNotFoundError:
            return  # nobody has listened yet
        for name in names:
            try:
                self._sender.sendto(b"!", self._address(name))
            except BlockingIOError:
                pass  # its buffer is full of wake-ups it has not read yet: it is awake already
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(FileNotFoundError):  # its process is gone (another ring may remove it)
                    (self.directory / name).unlink()
            except OSError as exc:
                log.warning("could not ring the doorbell %s: %s", name, exc)

    def listen(self, on_wake: Callable[[], None]) -> None:
        """Call `on_wake` whenever another process rings (a thread, until `close`)."""
        with self._guard:
            if self._listener is not None:
                return
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            receiver.bind(self._address(self._name))
            receiver.settimeout(STOP_CHECK_SECONDS)
            self._listener = threading.Thread(
                target=self._listen, args=(receiver, on_wake), name="doorbell", daemon=True
            )
            self._listener.start()

    def _listen(self, receiver: socket.socket, on_wake: Callable[[], None]) -> None:
        try:
            while not self._stop.is_set():
                try:
                    receiver.recv(64)
                except TimeoutError:
                    continue
                except OSError as exc:
                    log.warning("the doorbell stopped listening (%s): workers poll instead", exc)
                    return
                on_wake()
        finally:
            receiver.close()
            with contextlib.suppress(FileNotFoundError):
                (self.directory / self._name).unlink()

    def _address(self, name: str) -> str:
        path = str(self.directory / name)
        if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
            return path
        # Too long for sun_path (deep test or container paths): reach the directory through a descriptor of it.
        with self._fd_guard:
            if self._dir_fd is None:
                self._dir_fd = os.open(self.directory, os.O_PATH | os.O_DIRECTORY)
        return f"/proc/self/fd/{self._dir_fd}/{name}"

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=STOP_CHECK_SECONDS + 1)
            self._listener = None
        self._sender.close()
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
