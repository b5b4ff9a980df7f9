"""Feedback on dockhand's pull requests, read from GitHub: a review's line comments (and replies in their threads),
and what failed in CI (the failing check runs of a commit and the end of a failing job's log)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import requests
from github import Github

from bot.github.client import GitHubClient, GitHubError, unreachable
from core.forge import ReviewFeedback, ReviewNote

FAILED = frozenset({"failure", "timed_out"})
MAX_LOG_BYTES = 8 * 1024 * 1024  # read at most this much of a job's log, keeping its end
LOG_TAIL_CHARS = 20_000
MAX_NOTES = 100
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def review_feedback(
    client: GitHubClient, repository: str, number: int, review_id: int | None, *, bots: Iterable[str]
) -> ReviewFeedback | None:
    """A review and its line comments; `review_id` None: the newest review by a person that asks for something
    (changes requested, or comments). Reviews by bots (dockhand's own automatic review included) are skipped."""
    ignored = set(bots)

    def read(gh: Github) -> ReviewFeedback | None:
        pull = gh.get_repo(repository).get_pull(number)
        reviews = [
            r
            for r in pull.get_reviews()
            if r.user is not None and r.user.type != "Bot" and not r.user.login.endswith("[bot]")
            and r.user.login not in ignored and r.state in ("CHANGES_REQUESTED", "COMMENTED")
        ]  # fmt: skip
        chosen = next((r for r in reviews if r.id == review_id), None) if review_id else next(reversed(reviews), None)
        if chosen is None:
            return None
        # Read as GitHub sends it: PyGithub would fetch each comment again for a field GitHub leaves out
        # (`in_reply_to_id` of a thread's first comment).
        _, items = gh.requester.requestJsonAndCheck(
            "GET", f"/repos/{repository}/pulls/{number}/reviews/{chosen.id}/comments", {"per_page": MAX_NOTES}
        )
        notes = [_note(item) for item in items if isinstance(item, dict)] if isinstance(items, list) else []
        if not notes and not (chosen.body or "").strip():
            return None
        return ReviewFeedback(review_id=chosen.id, author=chosen.user.login, body=chosen.body or "", notes=tuple(notes))

    return client.call(f"read the review of {repository}#{number}", read)


def _note(item: dict[str, Any]) -> ReviewNote:
    user = item.get("user") or {}
    line = item.get("line")
    return ReviewNote(
        comment_id=int(item["id"]),
        thread_id=int(item.get("in_reply_to_id") or item["id"]),
        author=str(user.get("login", "")),
        path=str(item.get("path", "")),
        line=line if isinstance(line, int) else None,
        diff_hunk=str(item.get("diff_hunk") or ""),
        body=str(item.get("body") or ""),
    )


def reply_to_review_comment(client: GitHubClient, repository: str, number: int, comment_id: int, body: str) -> None:
    text = client.redact(body)
    client.call(
        f"reply to review comment {comment_id} on {repository}#{number}",
        lambda gh: gh.get_repo(repository).get_pull(number).create_review_comment_reply(comment_id, text),
    )


@dataclass(frozen=True, kw_only=True)
class FailedCheck:
    name: str
    url: str
    summary: str
    job_id: int | None  # a GitHub Actions job (its check run's id is the job's): its log can be read


def failed_checks(client: GitHubClient, repository: str, head_sha: str) -> list[FailedCheck]:
    """The check runs of a commit that completed with a failure."""

    def read(gh: Github) -> list[FailedCheck]:
        runs = gh.get_repo(repository).get_commit(head_sha).get_check_runs(status="completed")
        found = []
        for run in list(runs)[:100]:
            if run.conclusion not in FAILED:
                continue
            output = run.output
            summary = "\n".join(p for p in (output.title, output.summary, output.text) if p) if output else ""
            actions = run.app is not None and run.app.slug == "github-actions"
            found.append(FailedCheck(name=run.name, url=run.html_url or "", summary=summary[:4000],
                                     job_id=run.id if actions else None))  # fmt: skip
        return found

    return client.call(f"list the checks of {repository}@{head_sha[:12]}", read)


def job_log_tail(client: GitHubClient, repository: str, job_id: int) -> str:
    """The end of a GitHub Actions job's log. GitHub answers with a redirect to a short-lived download link;
    the log is fetched from there without dockhand's credentials, bounded, timestamps and colours removed."""

    url = client.call(
        f"find the log of job {job_id} on {repository}", lambda gh: _logs_location(gh, repository, job_id)
    )
    try:
        with requests.get(url, stream=True, timeout=30) as response:
            response.raise_for_status()
            data = bytearray()
            for chunk in response.iter_content(64 * 1024):
                data += chunk
                if len(data) > MAX_LOG_BYTES:
                    del data[: len(data) - MAX_LOG_BYTES]
    except requests.RequestException as exc:
        raise GitHubError(unreachable("GitHub's log storage", exc)) from None
    text = _ANSI.sub("", _TIMESTAMP.sub("", data.decode("utf-8", errors="replace")))
    return client.redact(text[-LOG_TAIL_CHARS:])


def _logs_location(gh: Github, repository: str, job_id: int) -> str:
    headers, _ = gh.requester.requestBlobAndCheck("GET", f"/repos/{repository}/actions/jobs/{job_id}/logs")
    found = headers.get("location")
    if not found:
        raise GitHubError(f"GitHub gave no log link for job {job_id}", 502)
    return str(found)
