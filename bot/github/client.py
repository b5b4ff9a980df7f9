"""The GitHub client: PyGithub behind a small interface, with token or GitHub App auth.

PyGithub is imported here and nowhere else. `GITHUB_API_URL` points it at GitHub Enterprise Server
or a test server; GithubRetry retries 5xx and rate limits, honouring `retry-after` and the
`x-ratelimit-*` headers. PyGithub's exceptions become `GitHubError` with the status and the call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from github import Auth, Github, GithubException, GithubRetry
from github.GithubIntegration import GithubIntegration

from core.errors import DockhandError
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


class GitHubClient:
    """What dockhand does on GitHub, for one installation (App) or one token."""

    def __init__(self, github: Github) -> None:
        self._gh = github

    @classmethod
    def from_settings(
        cls, settings: Settings, *, installation_id: int | None = None, throttle: bool = True
    ) -> GitHubClient:
        """A token client, or an App installation client (tokens minted and refreshed by PyGithub)."""
        auth: Auth.Auth
        if settings.github_app_id is not None and settings.github_app_private_key_path is not None:
            if installation_id is None:
                raise GitHubError("a GitHub App client needs the installation the event came from")
            key = settings.github_app_private_key_path.read_text()
            auth = Auth.AppAuth(settings.github_app_id, key).get_installation_auth(installation_id)
        elif settings.github_token is not None:
            auth = Auth.Token(settings.github_token.get_secret_value())
        else:
            raise GitHubError(
                "no GitHub credentials: set GITHUB_TOKEN, or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_PATH"
            )
        return cls(_github(settings.github_api_url, auth, throttle=throttle))

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

    # --- writes -----------------------------------------------------------------------------
    def comment(self, repository: str, number: int, body: str) -> int:
        """A new comment on an issue or PR; its id, for editing it in place later."""
        issue = self._gh.get_repo(repository).get_issue(number)
        return self._call(f"comment on {repository}#{number}", lambda: issue.create_comment(body).id)

    def edit_comment(self, repository: str, number: int, comment_id: int, body: str) -> None:
        issue = self._gh.get_repo(repository).get_issue(number)
        self._call(f"edit comment {comment_id} on {repository}", lambda: issue.get_comment(comment_id).edit(body))

    def status(
        self, repository: str, sha: str, state: str, *, context: str, description: str, target_url: str | None = None
    ) -> None:
        commit = self._gh.get_repo(repository).get_commit(sha)
        kwargs = {"state": state, "context": context, "description": description[:140]}
        if target_url:
            kwargs["target_url"] = target_url
        self._call(f"status on {repository}@{sha[:12]}", lambda: commit.create_status(**kwargs))

    def open_pull_request(self, repository: str, *, head: str, base: str, title: str, body: str) -> PullRequestRef:
        repo = self._gh.get_repo(repository)
        pull = self._call(
            f"open PR on {repository}", lambda: repo.create_pull(base=base, head=head, title=title, body=body)
        )
        return PullRequestRef(number=pull.number, url=pull.html_url)

    def close(self) -> None:
        self._gh.close()

    @staticmethod
    def _call(what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except GithubException as exc:
            raise _error(exc, what) from None


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


def _error(exc: GithubException, what: str) -> GitHubError:
    message = exc.data.get("message") if isinstance(exc.data, dict) else None
    return GitHubError(f"GitHub refused {what}: {exc.status} {message or ''}".strip(), exc.status)


@contextmanager
def app_installation_token(settings: Settings, installation_id: int) -> Iterator[str]:
    """A short-lived installation token (for the host's git push), from the App's key."""
    if settings.github_app_id is None or settings.github_app_private_key_path is None:
        raise GitHubError("not configured as a GitHub App")
    auth = Auth.AppAuth(settings.github_app_id, settings.github_app_private_key_path.read_text())
    integration = GithubIntegration(auth=auth, base_url=settings.github_api_url.rstrip("/"))
    try:
        yield integration.get_access_token(installation_id).token
    except GithubException as exc:
        raise _error(exc, f"a token for installation {installation_id}") from None
    finally:
        integration.close()
