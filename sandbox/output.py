"""Bounded capture of a command's output: line-split for streaming, head and tail kept in memory."""

from __future__ import annotations

from dataclasses import dataclass, field

HEAD_BYTES = 64 * 1024
TAIL_BYTES = 64 * 1024
MAX_LINE_BYTES = 8 * 1024


@dataclass
class BoundedOutput:
    """Keeps the first `head` and last `tail` bytes of a stream, and how much was dropped between."""

    head_limit: int = HEAD_BYTES
    tail_limit: int = TAIL_BYTES
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def add(self, data: bytes) -> None:
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        self.tail += data
        excess = len(self.tail) - self.tail_limit
        if excess > 0:
            self.dropped += excess
            del self.tail[:excess]

    def text(self) -> str:
        middle = f"\n… [{self.dropped} bytes of output omitted] …\n" if self.dropped else ""
        return bytes(self.head).decode("utf-8", "replace") + middle + bytes(self.tail).decode("utf-8", "replace")


@dataclass
class LineSplitter:
    """Turns chunks into lines; a line longer than `max_line` is cut into pieces."""

    max_line: int = MAX_LINE_BYTES
    pending: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[str]:
        if b"\n" not in data and len(self.pending) + len(data) < self.max_line:
            self.pending += data
            return []
        *complete, rest = (bytes(self.pending) + data).split(b"\n")
        lines = []
        for piece in complete:
            while len(piece) > self.max_line:
                lines.append(piece[: self.max_line].decode("utf-8", "replace"))
                piece = piece[self.max_line :]
            lines.append(piece.decode("utf-8", "replace"))
        while len(rest) >= self.max_line:
            lines.append(rest[: self.max_line].decode("utf-8", "replace"))
            rest = rest[self.max_line :]
        self.pending = bytearray(rest)
        return lines

    def close(self) -> list[str]:
        rest, self.pending = bytes(self.pending), bytearray()
        return [rest.decode("utf-8", "replace")] if rest else []
