"""Feedback on dockhand's pull requests, read from GitHub: a review's line comments (and replies in their threads),
and what failed in CI (the failing check runs of a commit and the end of a failing job's log)."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

import requests
from github import Github

from bot.github.client import GitHubClient, GitHubError, unreachable
from bot.github.events import MAYBE_WRITERS
from core.forge import ReviewFeedback, ReviewNote

FAILED = frozenset({"failure", "timed_out"})
MAX_LOG_BYTES = 64 * 1024 * 1024  # read at most this much of a job's log (when its storage sends it all)
TAIL_BYTES = 256 * 1024  # what is kept of its end
DOWNLOAD_SECONDS = 60.0
LOG_TAIL_CHARS = 20_000
MAX_NOTES = 100
MAX_REVIEW_PAGES = 10
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def review_feedback(
    client: GitHubClient, repository: str, number: int, review_id: int | None, *, bots: Iterable[str]
) -> ReviewFeedback | None:
    """A review and its line comments; `review_id` None: the newest review by a person that asks for something
    (changes requested, or comments). Reviews by bots (dockhand's own automatic review included) are skipped."""
    ignored = set(bots)

    def read(gh: Github) -> ReviewFeedback | None:
        # Read as GitHub sends it (PyGithub would fetch each object again for a field GitHub leaves out, such as
        # a thread's first comment's `in_reply_to_id`), page by page, bounded.
        reviews = [
            r for r in _pages(gh, f"/repos/{repository}/pulls/{number}/reviews", MAX_REVIEW_PAGES)
            if _by_a_person(r, ignored) and r.get("state") in ("CHANGES_REQUESTED", "COMMENTED")
            and (review_id is not None or r.get("author_association") in MAYBE_WRITERS)
        ]  # fmt: skip
        chosen = next((r for r in reviews if r.get("id") == review_id), None) if review_id else None
        chosen = chosen if review_id else next(reversed(reviews), None)
        if chosen is None:
            return None
        path = f"/repos/{repository}/pulls/{number}/reviews/{chosen['id']}/comments"
        notes = [_note(item) for item in _pages(gh, path, 1)][:MAX_NOTES]
        body = str(chosen.get("body") or "")
        if not notes and not body.strip():
            return None
        author = str((chosen.get("user") or {}).get("login", ""))
        return ReviewFeedback(review_id=int(chosen["id"]), author=author, body=body, notes=tuple(notes))

    return client.call(f"read the review of {repository}#{number}", read)


def _pages(gh: Github, path: str, most: int) -> list[dict[str, Any]]:
    """The items of a listing, 100 a page, at most `most` pages."""
    items: list[dict[str, Any]] = []
    for page in range(1, most + 1):
        _, found = gh.requester.requestJsonAndCheck("GET", path, {"per_page": 100, "page": page})
        batch = [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []
        items += batch
        if len(batch) < 100:
            break
    return items


def _by_a_person(review: dict[str, Any], ignored: set[str]) -> bool:
    user = review.get("user") or {}
    login = str(user.get("login", ""))
    return bool(login) and user.get("type") != "Bot" and not login.endswith("[bot]") and login not in ignored


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
        for run in islice(runs, 100):
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
    data = _download_tail(url)
    text = _ANSI.sub("", _TIMESTAMP.sub("", data.decode("utf-8", errors="replace")))
    return client.redact(text[-LOG_TAIL_CHARS:])


def _download_tail(url: str) -> bytes:
    """The last `TAIL_BYTES` of a log: asked for as a range (storage that honours it sends only that), read with
    an overall deadline and a bound on what is kept either way."""
    deadline = time.monotonic() + DOWNLOAD_SECONDS
    kept: deque[bytes] = deque()
    size = read = 0
    try:
        with requests.get(url, stream=True, timeout=30, headers={"Range": f"bytes=-{TAIL_BYTES}"}) as response:
            if response.status_code not in (200, 206):
                raise GitHubError(f"the log could not be downloaded ({response.status_code})", response.status_code)
            for chunk in response.iter_content(64 * 1024):
                kept.append(chunk)
                size, read = size + len(chunk), read + len(chunk)
                while size - len(kept[0]) >= TAIL_BYTES:
                    size -= len(kept.popleft())
                if read >= MAX_LOG_BYTES or time.monotonic() > deadline:
                    break  # what was read so far (the log's end may be missing: said by the caller's summary)
    except requests.RequestException as exc:
        raise GitHubError(unreachable("GitHub's log storage", exc)) from None
    return b"".join(kept)[-TAIL_BYTES:]


def _logs_location(gh: Github, repository: str, job_id: int) -> str:
    headers, _ = gh.requester.requestBlobAndCheck("GET", f"/repos/{repository}/actions/jobs/{job_id}/logs")
    found = headers.get("location")
    if not found:
        raise GitHubError(f"GitHub gave no log link for job {job_id}", 502)
    return str(found)
