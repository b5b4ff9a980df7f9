"""What the core needs from the code host (GitHub): issues, checkouts, and publishing a change.

`bot/github` implements it with PyGithub and host-side git; pipelines see only this protocol.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core.review.lines import ReviewComment
from core.sandboxing import SourceTree


@dataclass(frozen=True, kw_only=True)
class IssueComment:
    author: str
    body: str


@dataclass(frozen=True, kw_only=True)
class IssueThread:
    """An issue as the agent sees it."""

    repository: str
    number: int
    title: str
    body: str
    author: str
    labels: tuple[str, ...] = ()
    comments: tuple[IssueComment, ...] = ()
    url: str = ""


@dataclass(frozen=True, kw_only=True)
class PullInfo:
    """A pull request as a review needs it."""

    repository: str
    number: int
    title: str
    body: str
    author: str
    head_sha: str
    base_ref: str
    base_sha: str
    url: str = ""


@dataclass(frozen=True, kw_only=True)
class ReviewNote:
    """One line comment of a pull-request review, with the diff it is on."""

    comment_id: int
    thread_id: int  # the first comment of its thread (where replies go: GitHub takes no reply to a reply)
    author: str
    path: str
    line: int | None
    diff_hunk: str
    body: str


@dataclass(frozen=True, kw_only=True)
class ReviewFeedback:
    """A review to address: who wrote it, its body and its line comments."""

    review_id: int
    author: str
    body: str
    notes: tuple[ReviewNote, ...]


@dataclass(frozen=True, kw_only=True)
class PublishedChange:
    branch: str
    commit: str
    pull_number: int
    pull_url: str


@dataclass(frozen=True, kw_only=True)
class ChangeRequest:
    """A committed change (a git bundle of commits on top of `base`), to push and propose."""

    repository: str
    bundle: bytes
    branch: str
    base: str
    title: str
    body: str


class Forge(Protocol):
    def issue(self, repository: str, number: int) -> IssueThread: ...

    def default_branch(self, repository: str) -> str: ...

    def default_branch_file(self, repository: str, path: str) -> str | None:
        """A file's text on the repository's default branch (None: there is no such file)."""
        ...

    def checkout(self, repository: str, ref: str | None, destination: Path) -> SourceTree:
        """A clean clone of the repository at `ref` (default branch when None) on the host."""
        ...

    def publish(self, change: ChangeRequest) -> PublishedChange:
        """Push the branch from the host (the sandbox never holds a token) and open the pull request."""
        ...

    def pull_request(self, repository: str, number: int) -> PullInfo: ...

    def review_feedback(self, repository: str, number: int, review_id: int | None) -> ReviewFeedback | None:
        """A review of the pull request and its line comments (`review_id` None: the newest review that asks
        for something); None when there is none. Reviews by bots are never read."""
        ...

    def reply_to_review_comment(self, repository: str, number: int, comment_id: int, body: str) -> None:
        """A reply in a line comment's thread."""
        ...

    def post_review(
        self, repository: str, number: int, *, commit: str, body: str, comments: Sequence[ReviewComment]
    ) -> int:
        """One review (a comment review, not an approval) with its line comments; its id."""
        ...


def branch_name(kind: str, number: int | str, title: str) -> str:
    """`dockhand/<kind>-<number>-<slug of the title>` (the number: an issue's, or a task's id), safe as a git
    ref: the one definition of dockhand's branch names."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-") or "change"
    return f"dockhand/{kind}-{number}-{slug}"
