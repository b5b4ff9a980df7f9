"""Which lines of a pull request a review may comment on, and where the other comments go.

GitHub refuses a whole review (422, "Pull request review thread line must be part of the diff") when
one inline comment sits on a line outside the diff. So the comments a reviewer wants are split: those
on a commentable line go inline, the rest are listed in the review's body. A line is commentable on
the RIGHT (the head) when it is added or context inside a hunk, and on the LEFT (the base) when it is
removed or context. Pure: diff text in, typed records out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from core.unified_diff import DiffLine, HunkWalker, diff_path


class Side(StrEnum):
    LEFT = "LEFT"  # the base: removed and context lines
    RIGHT = "RIGHT"  # the head: added and context lines


class ReviewEvent(StrEnum):
    COMMENT = "COMMENT"
    REQUEST_CHANGES = "REQUEST_CHANGES"
    APPROVE = "APPROVE"


@dataclass(frozen=True, kw_only=True)
class ReviewComment:
    """A comment on one line of a file, by its path after the change."""

    path: str
    line: int
    body: str
    side: Side = Side.RIGHT

    def __post_init__(self) -> None:
        if self.line < 1:
            raise ValueError(f"review comment on {self.path}:{self.line}: lines start at 1")
        object.__setattr__(self, "side", Side(self.side))  # "RIGHT" given as a plain string


@dataclass(frozen=True, kw_only=True)
class ReviewDraft:
    """A review safe to post: every one of `comments` is on a diff line; `folded` are listed in `body`."""

    body: str
    comments: tuple[ReviewComment, ...] = ()
    folded: tuple[ReviewComment, ...] = ()


@dataclass(frozen=True, kw_only=True)
class FileLines:
    """The lines of one file a review comment may sit on, per side."""

    left: frozenset[int] = frozenset()
    right: frozenset[int] = frozenset()

    def on(self, side: Side) -> frozenset[int]:
        return self.left if side is Side.LEFT else self.right


@dataclass(frozen=True)
class Diff:
    """A pull request's diff as commentable lines, keyed by each file's path after the change.

    A deleted file is keyed by its old path (as GitHub lists it) and has LEFT lines only; a binary
    file, a pure rename or a mode change has no lines at all.
    """

    files: Mapping[str, FileLines]

    @classmethod
    def from_patches(cls, patches: Mapping[str, str | None]) -> Diff:
        """From `GET /pulls/{n}/files`: filename → `patch` (None when GitHub sends none: binary, too large)."""
        return cls({path: _patch_lines(patch) if patch else FileLines() for path, patch in patches.items()})

    @classmethod
    def parse(cls, text: str) -> Diff:
        """From a whole `git diff` (or a plain unified diff) with the default `a/` and `b/` prefixes."""
        return cls(_parse_diff(text))

    def allows(self, comment: ReviewComment) -> bool:
        lines = self.files.get(comment.path)
        return lines is not None and comment.line in lines.on(comment.side)


def draft_review(body: str, wanted: Iterable[ReviewComment], diff: Diff) -> ReviewDraft:
    """Inline the comments on diff lines; fold the rest into the body as "`path:line` — body"."""
    inline: list[ReviewComment] = []
    folded: list[ReviewComment] = []
    for comment in wanted:
        (inline if diff.allows(comment) else folded).append(comment)
    if folded:
        items = "\n".join(_folded_item(c) for c in folded)
        body = "\n\n".join(part for part in (body.rstrip(), f"Comments on lines outside the diff:\n\n{items}") if part)
    return ReviewDraft(body=body, comments=tuple(inline), folded=tuple(folded))


def _folded_item(comment: ReviewComment) -> str:
    where = _code(f"{comment.path}:{comment.line}") + (" (before the change)" if comment.side is Side.LEFT else "")
    text = comment.body.strip().replace("\n", "\n  ")  # continuation lines stay inside the list item
    return f"- {where} — {text}"


def _code(text: str) -> str:
    """A Markdown code span that survives backticks in the text."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


class _Hunks:
    """One file's commentable lines, fed its hunks line by line."""

    def __init__(self) -> None:
        self.left: set[int] = set()
        self.right: set[int] = set()
        self.walker = HunkWalker()

    def feed(self, line: str) -> bool:
        """Take a hunk header or a line inside a hunk; False for anything else."""
        found = self.walker.feed(line)
        if isinstance(found, DiffLine):
            if found.old is not None:
                self.left.add(found.old)
            if found.new is not None:
                self.right.add(found.new)
        return found is not None

    def lines(self) -> FileLines:
        return FileLines(left=frozenset(self.left), right=frozenset(self.right))


def _patch_lines(patch: str) -> FileLines:
    hunks = _Hunks()
    for line in patch.split("\n"):
        hunks.feed(line)
    return hunks.lines()


def _parse_diff(text: str) -> dict[str, FileLines]:
    """A file's hunks follow its `+++ ` line; a `diff --git` or a `--- ` outside a hunk ends them.
    Files with no `---`/`+++` (binary, pure rename, mode change) have no lines and are left out.
    """
    files: dict[str, FileLines] = {}
    old: str | None = None
    new: str | None = None
    hunks: _Hunks | None = None
    for line in [*text.split("\n"), "diff --git"]:  # the sentinel ends the last file
        if hunks is not None and hunks.feed(line):
            continue
        if line.startswith(("diff --git", "--- ")):
            path = new if new is not None else old  # a deleted file goes by its old path
            if hunks is not None and path is not None:
                files[path] = hunks.lines()
            old = new = hunks = None
        if line.startswith("--- "):
            old = diff_path(line[4:], "a/")
        elif line.startswith("+++ "):
            new, hunks = diff_path(line[4:], "b/"), _Hunks()
    return files
