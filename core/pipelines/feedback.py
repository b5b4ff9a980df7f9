"""Feedback a follow-up addresses: a pull-request review's line comments, or failing CI checks. What the agent is
told of each (delimited, untrusted data, like an issue's text), and the replies on each review comment's thread
once the fix is pushed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.agent.prompt import attribute, sanitize
from core.errors import DockhandError, StageFailedError
from core.forge import Forge, PublishedChange, ReviewFeedback
from core.specs import CiFailure

MAX_NOTES = 50
MAX_HUNK_CHARS = 3000
MAX_NOTE_CHARS = 4000
MAX_REPLY_CHARS = 2000


def review_message(feedback: ReviewFeedback) -> str:
    """The review to address: its body, then each line comment with its file, line and the diff around it."""
    parts = [
        "",
        "This step addresses a review of the pull request. Its comments, each on the code it is about:",
        f'<untrusted-review author="{attribute(feedback.author)}">',
        sanitize(feedback.body or "(no summary)", MAX_NOTE_CHARS),
    ]
    for note in feedback.notes[:MAX_NOTES]:
        line = str(note.line) if note.line is not None else "outdated"
        parts += [
            f'<untrusted-review-comment id="{note.comment_id}" author="{attribute(note.author)}" '
            f'path="{attribute(note.path)}" line="{line}">',
            "<diff-hunk>",
            sanitize(note.diff_hunk[-MAX_HUNK_CHARS:], MAX_HUNK_CHARS + 100),
            "</diff-hunk>",
            sanitize(note.body, MAX_NOTE_CHARS),
            "</untrusted-review-comment>",
        ]
    parts.append("</untrusted-review>")
    if feedback.notes:
        parts.append(
            "When you submit, give `replies`: for each comment id, one or two sentences on what you changed for "
            "it, or why you changed nothing. They are posted in each comment's thread."
        )
    return "\n".join(parts)


def ci_message(failure: CiFailure) -> str:
    """The failing checks and the end of the failing job's log."""
    checks = ", ".join(failure.checks)
    parts = [
        "",
        f"This step fixes the CI checks that failed on the pull request's commit {failure.head_sha[:12]}: {checks}.",
        f'<untrusted-ci-failure checks="{attribute(checks)}">',
        sanitize(failure.summary or "(no summary)", 4000),
        "</untrusted-ci-failure>",
    ]
    if failure.log:
        parts += [
            "The end of the failing job's log:",
            "<untrusted-ci-log>",
            sanitize(failure.log, 31_000),
            "</untrusted-ci-log>",
        ]
    parts.append("Reproduce the failure in the sandbox where you can, fix its cause, and keep the tests passing.")
    return "\n".join(parts)


def reply_text(note_id: int, replies: Mapping[int, str], commit: str, pull_url: str) -> str:
    """What dockhand answers in a review comment's thread: the agent's own words for it, and the commit."""
    said = replies.get(note_id, "").strip()[:MAX_REPLY_CHARS] or "Addressed."
    link = f"{pull_url.rstrip('/')}/commits/{commit}" if pull_url else commit[:12]
    return f"{said}\n\n(in {link})"


def reply_on_threads(
    comments: list[dict[str, int]],
    replies: Mapping[int, str],
    reply: Callable[[int, str], None],
    *,
    commit: str,
    pull_url: str,
) -> tuple[list[int], list[str]]:
    """Answer each addressed comment ({"id", "thread"}) in its thread: the ids answered, and why the others were
    not (the change is pushed already, so a reply that fails is reported, never fatal)."""
    answered, failures = [], []
    for comment in comments:
        try:
            reply(comment["thread"], reply_text(comment["id"], replies, commit, pull_url))
        except DockhandError as exc:
            failures.append(f"comment {comment['id']}: {exc}")
            continue
        answered.append(comment["id"])
    return answered, failures


def read_review(forge: Forge, repository: str, number: int, review_id: int | None) -> ReviewFeedback:
    try:
        found = forge.review_feedback(repository, number, review_id)
    except DockhandError as exc:
        raise StageFailedError(f"cannot read the review of {repository}#{number}: {exc}") from None
    if found is None:
        raise StageFailedError(f"{repository}#{number} has no review that asks for a change")
    return found


def review_record(review: ReviewFeedback) -> dict[str, Any]:
    """What the task's result keeps of the review it addresses."""
    comments = [{"id": note.comment_id, "thread": note.thread_id} for note in review.notes]
    return {"review_id": review.review_id, "by": review.author, "comments": comments}


def answer_review(
    forge: Forge, result: dict[str, Any], repository: str, published: PublishedChange, *, log: Callable[[str], None]
) -> None:
    """Answer each addressed comment in its own thread, with what the agent said it did for it."""
    review, replies = result["review"], result["pull_request_draft"].get("replies", {})
    answered, failures = reply_on_threads(
        review["comments"],
        {int(k): v for k, v in replies.items()},
        lambda thread_id, text: forge.reply_to_review_comment(repository, published.pull_number, thread_id, text),
        commit=published.commit,
        pull_url=published.pull_url,
    )
    review["replied"] = answered
    log(f"replied on {len(answered)} of the review's {len(review['comments'])} comment threads")
    for failure in failures:
        log(f"could not reply on the review: {failure}")
