"""The parts of GitHub's webhook payloads that dockhand reads, as strict pydantic models.

Only the fields dockhand uses are declared (the rest is ignored), each with the JSON type GitHub
sends: a signed delivery whose `installation` is a string or whose id is `1e999` is malformed and is
refused with the field named, never half-read.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from core.specs import describe_errors

_ID = Field(ge=1, le=2**63 - 1)
_NAME = Field(min_length=1, max_length=1000)


class PayloadError(ValueError):
    """A payload without the fields its event always has, or with one of the wrong type."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class User(_Part):
    login: str = _NAME
    type: str = "User"


class Installation(_Part):
    id: int = _ID


class Repository(_Part):
    full_name: str = Field(min_length=3, max_length=200, pattern=r"^[^/\s]+/[^/\s]+$")
    default_branch: str | None = Field(default=None, max_length=1000)
    clone_url: str | None = Field(default=None, max_length=2000)


class Label(_Part):
    name: str = Field(max_length=1000)


class Issue(_Part):
    number: int = _ID
    title: str = Field(max_length=100_000)
    body: str | None = None
    labels: list[Label] | None = None
    author_association: str = "NONE"
    pull_request: dict[str, Any] | None = None
    """Present when the issue is a pull request (a comment on a PR arrives as an issue comment)."""


class Comment(_Part):
    id: int = _ID
    body: str | None = None
    user: User
    author_association: str = "NONE"


class Branch(_Part):
    ref: str = _NAME
    sha: str = Field(pattern=r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")


class PullRequest(_Part):
    number: int = _ID
    title: str = Field(max_length=100_000)
    body: str | None = None
    draft: bool = False
    head: Branch
    base: Branch
    author_association: str = "NONE"


class Review(_Part):
    id: int = _ID
    user: User
    body: str | None = None
    state: str = Field(max_length=100)
    author_association: str = "NONE"


class PullNumber(_Part):
    number: int = _ID


class CheckOutput(_Part):
    title: str | None = None
    summary: str | None = None


class AppRef(_Part):
    id: int = _ID


class CheckSuiteRef(_Part):
    head_branch: str | None = Field(default=None, max_length=1000)


class CheckRun(_Part):
    id: int = _ID
    name: str = Field(max_length=1000)
    head_sha: str = Field(pattern=r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
    status: str = Field(max_length=100)
    conclusion: str | None = Field(default=None, max_length=100)
    html_url: str | None = Field(default=None, max_length=2000)
    output: CheckOutput | None = None
    check_suite: CheckSuiteRef | None = None
    pull_requests: list[PullNumber] = Field(default_factory=list)
    app: AppRef | None = None


class CheckSuite(_Part):
    id: int = _ID
    head_branch: str | None = Field(default=None, max_length=1000)
    head_sha: str = Field(pattern=r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
    conclusion: str | None = Field(default=None, max_length=100)
    pull_requests: list[PullNumber] = Field(default_factory=list)
    app: AppRef | None = None


class RepositoryName(_Part):
    full_name: str = Field(min_length=3, max_length=200)


class WorkflowRun(_Part):
    id: int = _ID
    name: str | None = Field(default=None, max_length=1000)
    head_branch: str | None = Field(default=None, max_length=1000)
    head_sha: str = Field(pattern=r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
    conclusion: str | None = Field(default=None, max_length=100)
    html_url: str | None = Field(default=None, max_length=2000)
    pull_requests: list[PullNumber] = Field(default_factory=list)
    head_repository: RepositoryName | None = None  # a fork's, for a pull request from one


class _RepositoryEvent(_Part):
    repository: Repository
    sender: User
    installation: Installation | None = None


class IssuesEvent(_RepositoryEvent):
    action: str
    issue: Issue
    label: Label | None = None


class IssueCommentEvent(_RepositoryEvent):
    action: str
    issue: Issue
    comment: Comment


class PullRequestEvent(_RepositoryEvent):
    action: str
    pull_request: PullRequest


class PushEvent(_RepositoryEvent):
    ref: str = _NAME
    before: str = Field(max_length=64)
    after: str = Field(max_length=64)
    deleted: bool = False


class PullRequestReviewEvent(_RepositoryEvent):
    action: str
    review: Review
    pull_request: PullRequest


class CheckRunEvent(_RepositoryEvent):
    action: str
    check_run: CheckRun


class CheckSuiteEvent(_RepositoryEvent):
    action: str
    check_suite: CheckSuite


class WorkflowRunEvent(_RepositoryEvent):
    action: str
    workflow_run: WorkflowRun


class Account(_Part):
    login: str = _NAME


class InstalledAccount(_Part):
    id: int = _ID
    account: Account


class InstallationEvent(_Part):
    action: str
    installation: InstalledAccount
    repositories: list[RepositoryName] | None = None
    repositories_added: list[RepositoryName] | None = None
    repositories_removed: list[RepositoryName] | None = None


EventPayload = (
    IssuesEvent
    | IssueCommentEvent
    | PullRequestEvent
    | PushEvent
    | InstallationEvent
    | PullRequestReviewEvent
    | CheckRunEvent
    | CheckSuiteEvent
    | WorkflowRunEvent
)
ChecksEvent = CheckRunEvent | CheckSuiteEvent | WorkflowRunEvent

MODELS: dict[str, type[EventPayload]] = {
    "issues": IssuesEvent,
    "issue_comment": IssueCommentEvent,
    "pull_request": PullRequestEvent,
    "push": PushEvent,
    "installation": InstallationEvent,
    "installation_repositories": InstallationEvent,
    "pull_request_review": PullRequestReviewEvent,
    "check_run": CheckRunEvent,
    "check_suite": CheckSuiteEvent,
    "workflow_run": WorkflowRunEvent,
}


def read_payload(event: str, payload: object) -> EventPayload:
    """The typed payload of a handled event; `PayloadError` naming the fields that are missing or wrong."""
    model = MODELS[event]
    try:
        return model.model_validate(payload)
    except PydanticValidationError as exc:
        raise PayloadError(f"malformed {event} payload: {describe_errors(exc)[:500]}") from None
