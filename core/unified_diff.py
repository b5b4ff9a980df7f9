"""Reading unified diffs (`git diff`, GitHub's per-file patches): the one hunk walker dockhand uses.

Inside a hunk the header's line counts say how many lines follow, so content that looks like a header
(an added line reading `++ x`, a removed one reading `-- x`) is never taken for one, and file headers
are read only between hunks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Hunk:
    old_start: int
    old_count: int
    new_start: int
    new_count: int


def parse_hunk(line: str) -> Hunk | None:
    """The numbers of a `@@ -a,b +c,d @@` line (a count left out is 1), or None for any other line."""
    match = _HUNK.match(line)
    if match is None:
        return None
    return Hunk(int(match[1]), int(match[2] or 1), int(match[3]), int(match[4] or 1))


class LineKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CONTEXT = "context"
    NO_NEWLINE = "no-newline"  # "\ No newline at end of file": belongs to neither side


@dataclass(frozen=True)
class DiffLine:
    kind: LineKind
    old: int | None
    """Its number on the old side (removed and context lines)."""
    new: int | None
    """Its number on the new side (added and context lines)."""
    text: str


class HunkWalker:
    """Fed a diff line by line: says which lines are inside hunks, with their numbers on each side."""

    def __init__(self) -> None:
        self.old = self.new = self.old_left = self.new_left = 0

    @property
    def in_hunk(self) -> bool:
        return self.old_left > 0 or self.new_left > 0

    def feed(self, line: str) -> DiffLine | Hunk | None:
        """The line inside a hunk, the hunk a header starts, or None (a line between hunks: a file header)."""
        tag = line[:1]
        if self.in_hunk and tag in ("+", "-", " ", "", "\\"):
            if tag == "\\":
                return DiffLine(LineKind.NO_NEWLINE, None, None, line)
            if tag == "+":
                found = DiffLine(LineKind.ADDED, None, self.new, line[1:])
                self.new, self.new_left = self.new + 1, self.new_left - 1
                return found
            if tag == "-":
                found = DiffLine(LineKind.REMOVED, self.old, None, line[1:])
                self.old, self.old_left = self.old + 1, self.old_left - 1
                return found
            # a context line, or "" once an editor stripped its trailing space
            found = DiffLine(LineKind.CONTEXT, self.old, self.new, line[1:])
            self.old, self.old_left = self.old + 1, self.old_left - 1
            self.new, self.new_left = self.new + 1, self.new_left - 1
            return found
        self.old_left = self.new_left = 0
        hunk = parse_hunk(line)
        if hunk is not None:
            self.old, self.old_left = hunk.old_start, hunk.old_count
            self.new, self.new_left = hunk.new_start, hunk.new_count
        return hunk


_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def diff_path(field: str, prefix: str) -> str | None:
    """The path of a `--- a/x` / `+++ b/x` header's field (its `a/` or `b/` prefix removed), None for
    /dev/null. git quotes unusual names C-style ("b/caf\\303\\251.py"); unquoted, a name ends at a tab (git
    adds one after a name with spaces, GNU diff a date)."""
    path = _unquote(field) if field.startswith('"') else field.rstrip("\n").split("\t", 1)[0]
    if path == "/dev/null":
        return None
    return path.removeprefix(prefix)


def _unquote(field: str) -> str:
    """A name git quoted C-style, up to its closing quote: "a/caf\\303\\251" → a/café."""
    out = bytearray()
    i = 1
    while i < len(field) and field[i] != '"':
        if field[i] == "\\" and field[i + 1 : i + 2] in tuple("01234567"):
            out.append(int(field[i + 1 : i + 4], 8))
            i += 4
        elif field[i] == "\\":
            out.append(_ESCAPES.get(field[i + 1 : i + 2], ord("\\")))
            i += 2
        else:
            out += field[i].encode()
            i += 1
    return out.decode("utf-8", "replace")
