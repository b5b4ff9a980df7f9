"""GitHub as the core's `Forge`: issues through the REST API, clones and pushes with host-side git.

Credentials stay on the host: clones and pushes get the token in git's environment only (an App's
installation token is minted per operation), and the sandbox only ever receives a clean tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bot.github import feedback
from bot.github.client import GitHubClient, GitHubError, app_installation_token
from bot.github.intake import ClientFor, github_client, github_client_factory, installation_for
from bot.github.pipelines import NEEDS_GITHUB_AND_MODEL
from core.forge import ChangeRequest, IssueThread, PublishedChange, PullInfo, ReviewFeedback
from core.model_provider import missing_model
from core.pipelines.issue_resolution import IssueResolution
from core.pipelines.pr_review import PullRequestReview
from core.pipelines.test_pipeline import repository_url
from core.review.lines import ReviewComment, ReviewEvent
from core.sandboxing import SourceTree
from core.service import Core
from core.settings import Settings
from core.states import TaskType
from sandbox.git import GitCredentials, RepoMirrors, materialize, publish_bundle

InstallationFor = Callable[[str], int | None]


class GitHubForge:
    def __init__(self, settings: Settings, client_for: ClientFor, installation: InstallationFor) -> None:
        self.settings = settings
        self.client_for = client_for
        self.installation = installation
        # The git host is the operator's configuration, so a file:// URL (e.g. a local mirror) is allowed.
        self.mirrors = RepoMirrors(settings.git_cache_dir, allow_local=True)

    def issue(self, repository: str, number: int) -> IssueThread:
        bots = {self.settings.bot_name, f"{self.settings.bot_name}[bot]"}
        with self._client(repository) as client:
            return client.issue_thread(repository, number, skip_authors=bots)

    def default_branch(self, repository: str) -> str:
        with self._client(repository) as client:
            return client.default_branch(repository)

    def default_branch_file(self, repository: str, path: str) -> str | None:
        with self._client(repository) as client:
            return client.file_text(repository, path)

    def checkout(self, repository: str, ref: str | None, destination: Path) -> SourceTree:
        with self._credentials(repository) as credentials:
            return materialize(self.mirrors, self._url(repository), ref, destination, credentials=credentials)

    def publish(self, change: ChangeRequest) -> PublishedChange:
        with self._credentials(change.repository) as credentials:
            commit = publish_bundle(
                self.mirrors, self._url(change.repository), change.bundle, change.branch, credentials=credentials
            )
        with self._client(change.repository) as client:
            pull = client.open_or_find_pull_request(
                change.repository, head=change.branch, base=change.base, title=change.title, body=change.body
            )
        return PublishedChange(branch=change.branch, commit=commit, pull_number=pull.number, pull_url=pull.url)

    def pull_request(self, repository: str, number: int) -> PullInfo:
        with self._client(repository) as client:
            pull = client.pull_request(repository, number)
        return PullInfo(
            repository=repository,
            number=number,
            title=pull.title,
            body=pull.body,
            author=pull.author,
            head_sha=pull.head_sha,
            base_ref=pull.base_ref,
            base_sha=pull.base_sha,
            url=pull.html_url,
        )

    def post_review(
        self, repository: str, number: int, *, commit: str, body: str, comments: Sequence[ReviewComment]
    ) -> int:
        with self._client(repository) as client:
            return client.create_review(
                repository, number, commit_sha=commit, body=body, event=ReviewEvent.COMMENT, comments=comments
            )

    def review_feedback(self, repository: str, number: int, review_id: int | None) -> ReviewFeedback | None:
        bots = {self.settings.bot_name, f"{self.settings.bot_name}[bot]"}
        with self._client(repository) as client:
            return feedback.review_feedback(client, repository, number, review_id, bots=bots)

    def reply_to_review_comment(self, repository: str, number: int, comment_id: int, body: str) -> None:
        with self._client(repository) as client:
            feedback.reply_to_review_comment(client, repository, number, comment_id, body)

    # --- helpers ------------------------------------------------------------------------------
    def _url(self, repository: str) -> str:
        return repository_url(self.settings.github_git_url, repository)

    @contextmanager
    def _client(self, repository: str) -> Iterator[GitHubClient]:
        with github_client(self.client_for, self.installation(repository)) as client:
            yield client

    @contextmanager
    def _credentials(self, repository: str) -> Iterator[GitCredentials | None]:
        prefix = self.settings.github_git_url
        if self.settings.github_app_id is not None:
            installation = self.installation(repository)
            if installation is None:
                raise GitHubError(f"the GitHub App is not installed on {repository} (no installation event seen)")
            with app_installation_token(self.settings, installation) as token:
                yield GitCredentials.github_token(token, url_prefix=prefix)
        elif self.settings.github_token is not None:
            yield GitCredentials.github_token(self.settings.github_token.get_secret_value(), url_prefix=prefix)
        else:
            yield None


def attach_github_pipelines(core: Core) -> None:
    """Register the pipelines that need GitHub and the model (issue resolution, PR review) when both are
    configured; otherwise say, for each, what to set (a submission is refused with that, up front)."""
    settings = core.settings
    if settings.github_token is None and settings.github_app_id is None:
        reason = (
            "need GitHub credentials: set GITHUB_TOKEN, or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_PATH "
            "(`dockhand setup github` makes the App)"
        )
        for task_type in NEEDS_GITHUB_AND_MODEL:
            core.registry.unavailable(task_type, reason)
        return
    if missing := missing_model(settings):  # refused at submission: before any checkout, install or baseline
        reason = f"need a model: {missing} (`dockhand doctor` checks it)"
        for task_type in NEEDS_GITHUB_AND_MODEL:
            core.registry.unavailable(task_type, reason)
        return
    forge = GitHubForge(settings, github_client_factory(settings), lambda repo: installation_for(core, repo))
    resolution = IssueResolution(forge, earlier=core.find_task)
    core.registry.register(TaskType.ISSUE_RESOLUTION, resolution.pipeline())
    core.registry.register(TaskType.CHANGE, resolution.change_pipeline())
    core.registry.register(TaskType.PR_REVIEW, PullRequestReview(forge, core.history.last_review).pipeline())
