"""The GitHub client: PyGithub behind a small interface, with token or GitHub App auth.

PyGithub is imported here and nowhere else. `GITHUB_API_URL` points it at GitHub Enterprise Server
or a test server; GithubRetry retries 5xx and rate limits, honouring `retry-after` and the
`x-ratelimit-*` headers. PyGithub's exceptions become `GitHubError` with the status and the call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlparse

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.PullRequest import ReviewComment as _InlineComment

from bot.github.app_auth import InstallationKey, forget_installation, installation_auth, installation_key
from core.errors import DockhandError
from core.forge import IssueComment, IssueThread
from core.redaction import Redactor
from core.review.lines import ReviewComment, ReviewEvent
from core.settings import Settings

T = TypeVar("T")


class GitHubError(DockhandError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, kw_only=True)
class PullRequestRef:
    number: int
    url: str


@dataclass(frozen=True, kw_only=True)
class PullRequest:
    number: int
    head_sha: str
    head_ref: str
    base_ref: str
    base_sha: str
    title: str
    body: str
    author: str
    draft: bool
    html_url: str


class FileStatus(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"
    RENAMED = "renamed"
    COPIED = "copied"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, kw_only=True)
class PullFile:
    """One file of a PR. `patch` is None when GitHub sends none (binary, or too large to show)."""

    filename: str
    status: FileStatus
    patch: str | None
    previous_filename: str | None = None


class CheckStatus(StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class CheckConclusion(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    NEUTRAL = "neutral"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    TIMED_OUT = "timed_out"
    ACTION_REQUIRED = "action_required"


CHECK_OUTPUT_LIMIT = 65535  # characters, each of a check run's summary and text


class GitHubClient:
    """What dockhand does on GitHub, for one installation (App) or one token."""

    def __init__(
        self, github: Github, redactor: Redactor | None = None, installation: InstallationKey | None = None
    ) -> None:
        self._gh = github
        self._redact = (redactor or Redactor()).text  # whatever dockhand writes on GitHub goes through it
        self._installation = installation

    @classmethod
    def from_settings(
        cls, settings: Settings, *, installation_id: int | None = None, throttle: bool = True
    ) -> GitHubClient:
        """A token client, or an App installation client (tokens minted and refreshed by PyGithub)."""
        auth: Auth.Auth
        if settings.github_app_id is not None and settings.app_private_key() is not None:
            if installation_id is None:
                raise GitHubError("a GitHub App client needs the installation the event came from")
            installation = installation_key(settings, installation_id)
            auth = installation_auth(settings, installation)
            github = _github(settings.github_api_url, auth, throttle=throttle)
            return cls(github, Redactor.from_settings(settings), installation)
        elif settings.github_token is not None:
            auth = Auth.Token(settings.github_token.get_secret_value())
        else:
            raise GitHubError(
                "no GitHub credentials: set GITHUB_TOKEN, or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_PATH"
            )
        return cls(_github(settings.github_api_url, auth, throttle=throttle), Redactor.from_settings(settings))

    # --- reads ------------------------------------------------------------------------------
    def permission(self, repository: str, login: str) -> str:
        """admin, maintain, write, triage, read or none."""
        try:
            return str(self._gh.get_repo(repository).get_collaborator_permission(login))
        except GithubException as exc:
            if exc.status == 404:
                return "none"
            raise _error(exc, f"permission of {login} on {repository}") from None

    def default_branch(self, repository: str) -> str:
        return self._call(f"GET {repository}", lambda: self._gh.get_repo(repository).default_branch)

    def issue_thread(
        self, repository: str, number: int, *, skip_authors: frozenset[str] | set[str] = frozenset()
    ) -> IssueThread:
        """An issue with its labels and comments (not those of `skip_authors`, e.g. our own progress comments)."""

        def read() -> IssueThread:
            issue = self._gh.get_repo(repository).get_issue(number)
            comments = tuple(
                IssueComment(author=c.user.login, body=c.body or "")
                for c in issue.get_comments()
                if c.user is not None and c.user.login not in skip_authors
            )
            return IssueThread(
                repository=repository,
                number=number,
                title=issue.title,
                body=issue.body or "",
                author=issue.user.login if issue.user is not None else "",
                labels=tuple(label.name for label in issue.labels),
                comments=comments,
                url=issue.html_url or "",
            )

        return self._call(f"read issue {repository}#{number}", read)

    def file_text(self, repository: str, path: str, ref: str | None = None) -> str | None:
        """A text file of the default branch (or `ref`); None when there is no such file."""
        repo = self._gh.get_repo(repository)
        try:
            found = repo.get_contents(path, ref=ref) if ref else repo.get_contents(path)
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise _error(exc, f"read {path} of {repository}") from None
        if isinstance(found, list):  # a directory
            return None
        return found.decoded_content.decode("utf-8", errors="replace")

    def pull_request(self, repository: str, number: int) -> PullRequest:
        def read() -> PullRequest:
            pull = self._gh.get_repo(repository).get_pull(number)
            return PullRequest(
                number=pull.number,
                head_sha=pull.head.sha,
                head_ref=pull.head.ref,
                base_ref=pull.base.ref,
                base_sha=pull.base.sha,
                title=pull.title,
                body=pull.body or "",
                author=pull.user.login,
                draft=bool(pull.draft),
                html_url=pull.html_url,
            )

        return self._call(f"read {repository}#{number}", read)

    def pull_request_files(self, repository: str, number: int) -> list[PullFile]:
        """Every file the PR changes (GitHub lists at most 3000), with its patch."""
        pull = self._gh.get_repo(repository).get_pull(number)
        return self._call(
            f"list the files of {repository}#{number}",
            lambda: [
                PullFile(
                    filename=f.filename,
                    status=FileStatus(f.status),
                    patch=f.patch or None,
                    previous_filename=f.previous_filename or None,
                )
                for f in pull.get_files()
            ],
        )

    # --- writes -----------------------------------------------------------------------------
    def comment(self, repository: str, number: int, body: str) -> int:
        """A new comment on an issue or PR; its id, for editing it in place later."""
        issue = self._gh.get_repo(repository).get_issue(number)
        body = self._redact(body)
        return self._call(f"comment on {repository}#{number}", lambda: issue.create_comment(body).id)

    def edit_comment(self, repository: str, number: int, comment_id: int, body: str) -> None:
        issue = self._gh.get_repo(repository).get_issue(number)
        body = self._redact(body)
        self._call(f"edit comment {comment_id} on {repository}", lambda: issue.get_comment(comment_id).edit(body))

    def status(
        self, repository: str, sha: str, state: str, *, context: str, description: str, target_url: str | None = None
    ) -> None:
        commit = self._gh.get_repo(repository).get_commit(sha)
        kwargs = {"state": state, "context": context, "description": self._redact(description)[:140]}
        if target_url:
            kwargs["target_url"] = target_url
        self._call(f"status on {repository}@{sha[:12]}", lambda: commit.create_status(**kwargs))

    def open_pull_request(self, repository: str, *, head: str, base: str, title: str, body: str) -> PullRequestRef:
        repo = self._gh.get_repo(repository)
        title, body = self._redact(title), self._redact(body)
        pull = self._call(
            f"open PR on {repository}", lambda: repo.create_pull(base=base, head=head, title=title, body=body)
        )
        return PullRequestRef(number=pull.number, url=pull.html_url)

    def open_or_find_pull_request(
        self, repository: str, *, head: str, base: str, title: str, body: str
    ) -> PullRequestRef:
        """Open the PR; if one is already open from `head` (a retry after a crash), that one."""
        try:
            return self.open_pull_request(repository, head=head, base=base, title=title, body=body)
        except GitHubError as exc:
            if exc.status != 422 or "already exists" not in str(exc):
                raise
        repo = self._gh.get_repo(repository)
        owner = repository.split("/")[0]
        for pull in self._call(
            f"list PRs of {repository}", lambda: list(repo.get_pulls(state="open", head=f"{owner}:{head}"))
        ):
            return PullRequestRef(number=pull.number, url=pull.html_url)
        raise GitHubError(f"GitHub says a PR from {head} exists on {repository}, but none is open", 422)

    def create_review(
        self,
        repository: str,
        number: int,
        *,
        commit_sha: str,
        body: str,
        event: ReviewEvent,
        comments: Sequence[ReviewComment] = (),
    ) -> int:
        """One review with its inline comments; its id. Every comment must be on a diff line, or GitHub
        refuses the whole review: split them first with `review.draft_review`.
        """
        repo = self._gh.get_repo(repository)
        pull, commit = repo.get_pull(number), repo.get_commit(commit_sha)
        body = self._redact(body)
        inline = [
            _InlineComment(path=c.path, line=c.line, side=c.side.value, body=self._redact(c.body)) for c in comments
        ]
        return self._call(
            f"review {repository}#{number}",
            lambda: pull.create_review(commit=commit, body=body, event=event.value, comments=inline).id,
        )

    def create_check_run(
        self,
        repository: str,
        *,
        name: str,
        head_sha: str,
        status: CheckStatus | None = None,
        conclusion: CheckConclusion | None = None,
        title: str | None = None,
        summary: str | None = None,
        text: str | None = None,
        details_url: str | None = None,
        external_id: str | None = None,
    ) -> int:
        """A check run on a commit (GitHub Apps only: a personal token gets 403); its id. Without a status
        GitHub queues it; with a conclusion it is completed at once.
        """
        kwargs = self._redact_output(_check_run_fields(status, conclusion, title, summary, text, details_url))
        if external_id is not None:
            kwargs["external_id"] = external_id
        repo = self._gh.get_repo(repository)
        return self._call(
            f"create check run {name!r} on {repository}@{head_sha[:12]}",
            lambda: repo.create_check_run(name=name, head_sha=head_sha, **kwargs).id,
        )

    def update_check_run(
        self,
        repository: str,
        check_run_id: int,
        *,
        status: CheckStatus | None = None,
        conclusion: CheckConclusion | None = None,
        title: str | None = None,
        summary: str | None = None,
        text: str | None = None,
        details_url: str | None = None,
    ) -> None:
        """Change what is given; a conclusion completes the run."""
        kwargs = self._redact_output(_check_run_fields(status, conclusion, title, summary, text, details_url))
        run = self._gh.get_repo(repository).get_check_run(check_run_id)
        self._call(f"update check run {check_run_id} on {repository}", lambda: run.edit(**kwargs))

    def _redact_output(self, fields: dict[str, Any]) -> dict[str, Any]:
        if "output" in fields:
            fields["output"] = {key: self._redact(value) for key, value in fields["output"].items()}
        return fields

    def installation_token(self) -> str:
        """The App installation's token this client works with (the host's git push uses it too)."""
        auth = self._gh.requester.auth
        if not isinstance(auth, Auth.AppInstallationAuth):
            raise GitHubError("not configured as a GitHub App")
        return self._call("an installation token", lambda: auth.token)

    def close(self) -> None:
        self._gh.close()

    def call(self, what: str, fn: Callable[[Github], T]) -> T:
        """A call made elsewhere (`bot/github/feedback.py`) with this client's error handling."""
        return self._call(what, lambda: fn(self._gh))

    def redact(self, text: str) -> str:
        """Text as dockhand may write it on GitHub (known secrets masked)."""
        return self._redact(text)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except GithubException as exc:
            if exc.status == 401 and self._installation is not None:
                forget_installation(self._installation)  # revoked or expired early: the next client mints anew
            raise _error(exc, what) from None
        except requests.RequestException as exc:
            raise GitHubError(unreachable("GitHub", exc)) from None


def unreachable(service: str, exc: requests.RequestException) -> str:
    """One line: which host could not be reached and why (no traceback, no URL path or query)."""
    raw = exc.request.url if exc.request is not None else None
    url = urlparse(raw.decode() if isinstance(raw, bytes) else str(raw or ""))
    where = url.netloc or "its API"
    text = str(exc)
    if "Connection refused" in text:
        cause = "connection refused"
    elif "Name or service not known" in text or "Temporary failure in name resolution" in text:
        cause = "the name does not resolve"
    elif isinstance(exc, requests.Timeout):
        cause = "timed out"
    elif isinstance(exc, requests.exceptions.SSLError):
        cause = "TLS failed (a proxy's CA missing from the trust store?)"
    else:
        cause = type(exc).__name__
    return f"cannot reach {service} at {where}: {cause}"


def _github(base_url: str, auth: Auth.Auth, *, throttle: bool) -> Github:
    return Github(
        base_url=base_url.rstrip("/"),
        auth=auth,
        timeout=30,
        lazy=True,  # objects are fetched only when a field is read: a comment or a status is one request
        retry=GithubRetry(total=5, backoff_factor=0.5 if throttle else 0.01),
        # GitHub asks for spacing between writes; tests against the loopback fake turn it off.
        seconds_between_requests=0.25 if throttle else None,
        seconds_between_writes=1.0 if throttle else None,
    )


def _check_run_fields(
    status: CheckStatus | None,
    conclusion: CheckConclusion | None,
    title: str | None,
    summary: str | None,
    text: str | None,
    details_url: str | None,
) -> dict[str, Any]:
    if status is CheckStatus.COMPLETED and conclusion is None:
        raise ValueError("a completed check run needs a conclusion")
    if status not in (None, CheckStatus.COMPLETED) and conclusion is not None:
        raise ValueError(f"a check run {status} cannot have a conclusion: a conclusion completes it")
    if (title is None) != (summary is None) or (text is not None and title is None):
        raise ValueError("a check run's output needs a title and a summary (and may have a text)")
    fields: dict[str, Any] = {}
    if status is not None:
        fields["status"] = status.value
    if conclusion is not None:
        fields["conclusion"] = conclusion.value
    if title is not None and summary is not None:
        output = {"title": title, "summary": _truncate(summary)}
        if text is not None:
            output["text"] = _truncate(text)
        fields["output"] = output
    if details_url is not None:
        fields["details_url"] = details_url
    return fields


def _truncate(text: str, limit: int = CHECK_OUTPUT_LIMIT) -> str:
    marker = "\n\n… (truncated)"
    return text if len(text) <= limit else text[: limit - len(marker)] + marker


def _error(exc: GithubException, what: str) -> GitHubError:
    message = exc.data.get("message") if isinstance(exc.data, dict) else None
    errors = exc.data.get("errors") if isinstance(exc.data, dict) else None
    if isinstance(errors, list) and errors:  # a 422 says what was wrong here, not in `message`
        reasons = [e.get("message") or e.get("code") if isinstance(e, dict) else e for e in errors]
        message = f"{message or ''} ({'; '.join(str(r) for r in reasons)})"
    return GitHubError(f"GitHub refused {what}: {exc.status} {message or ''}".strip(), exc.status)


@contextmanager
def app_installation_token(settings: Settings, installation_id: int) -> Iterator[str]:
    """An installation token (for the host's git push): the same cached one the API clients use."""
    if settings.github_app_id is None or settings.app_private_key() is None:
        raise GitHubError("not configured as a GitHub App")
    client = GitHubClient.from_settings(settings, installation_id=installation_id)
    try:
        yield client.installation_token()
    finally:
        client.close()
