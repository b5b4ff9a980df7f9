"""What a finished (or waiting) task produced, typed: one model per task type over the stored `Task.result`.

Pipelines write their result as JSON; every reader (Slack, GitHub, the TUI, the CLI, the API) reads it
through `result_of(task)` instead of by string key. The models are lenient on purpose: every field is
optional and unknown keys are kept, so rows written by older versions still read (nothing to migrate), and
a row that does not fit at all reads as an empty result rather than breaking a notifier.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from core.models import Task
from core.states import TaskType

log = logging.getLogger(__name__)


class Part(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class TokenUsage(Part):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0


class AgentFigures(Part):
    """What the model cost: turns, tokens, dollars (and the budget it had)."""

    turns: int = 0
    usage: TokenUsage = Field(default_factory=TokenUsage)
    cost_usd: float = 0.0
    budget_usd: float | None = None
    status: str | None = None


class PullRequestOpened(Part):
    branch: str = ""
    commit: str = ""
    pull_number: int = 0
    pull_url: str = ""


class PullRequestDraft(Part):
    title: str = ""
    body: str = ""


class ChangeStats(Part):
    files: int = 0
    insertions: int = 0
    deletions: int = 0
    touches_workflows: bool = False


class ReviewPosted(Part):
    id: int | None = None
    comments: int = 0
    in_body: int = 0


class ReviewedPull(Part):
    number: int | None = None
    title: str = ""
    head_sha: str = ""
    base_ref: str = ""
    url: str = ""


class Totals(Part):
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0


class ProjectReport(Part):
    """One project's test run: its language and root in the repository, status, totals and coverage."""

    language: str = ""
    root: str = ""
    framework: str = ""
    status: str = ""
    totals: Totals = Field(default_factory=Totals)
    coverage_percent: float | None = None
    diff_coverage: dict[str, Any] | None = None
    test_source: str | None = None
    results_from: str | None = None
    duration_seconds: float | None = None
    error: str | None = None


class TestsReport(Part):
    __test__ = False  # not a pytest class

    status: str = "not run"
    round: int | None = None
    projects: list[ProjectReport] = Field(default_factory=list)


class TaskResult(Part):
    """What every task type may carry: the model's cost, and a change it proposes (any pipeline may stop at
    an approval gate with one)."""

    agent: AgentFigures | None = None
    change: ChangeStats | None = None
    pull_request_draft: PullRequestDraft | None = None
    pull_request: PullRequestOpened | None = None

    @property
    def test_projects(self) -> list[ProjectReport]:
        """The projects whose tests this task ran (none for a task that runs no tests)."""
        return []


class CustomResult(TaskResult):
    exit_code: int | None = None
    duration_seconds: float | None = None
    timed_out: bool = False
    oom_killed: bool = False
    disk_full: list[str] = Field(default_factory=list)


class TestPipelineResult(TaskResult):
    __test__ = False

    status: str | None = None
    projects: list[ProjectReport] = Field(default_factory=list)
    source: str | None = None
    ref: str | None = None
    commit: str | None = None
    run_key: str | None = None
    reused_from: str | None = None
    timings: dict[str, Any] = Field(default_factory=dict)

    @property
    def test_projects(self) -> list[ProjectReport]:
        return self.projects


class ReproductionReport(Part):
    """The test that shows the problem: failing on the unchanged code, passing after the change (or why none)."""

    status: str = ""  # reproduced, not-reproduced
    test: str = ""
    command: str = ""
    failed_before: str = ""
    passes_after: bool | None = None
    after: str = ""
    reason: str = ""


class ReviewNote(Part):
    """One finding of dockhand's own review of the change."""

    severity: str = ""
    path: str = ""
    line: int | None = None
    title: str = ""


class SelfReview(Part):
    """dockhand's review of its own change before asking: what it sent back to the agent, what remains."""

    sent_back: int = 0
    remaining: list[ReviewNote] = Field(default_factory=list)
    gaps: list[str] = Field(default_factory=list)  # what was not reviewed, or went wrong on the way
    cost_usd: float = 0.0
    error: str | None = None


class AttemptReport(Part):
    """One of several independent attempts at a change: how it ended and its evidence, for the pick and its
    table; `result` is the attempt's own result (its change, tests, evidence), what a pick by hand publishes."""

    number: int = 0
    status: str = ""  # ready (a checked change was taken), gave-up, failed
    detail: str = ""
    reproduced: bool | None = None  # its reproduction passes after the change (None: none was written)
    tests: str = "not run"
    new_failures: int = 0  # tests failing now that did not fail before the change
    diff_coverage: float | None = None  # percent of the lines it adds that the tests ran
    insertions: int = 0
    deletions: int = 0
    findings: int = 0  # what dockhand's own review still doubts
    cost_usd: float = 0.0
    result: dict[str, Any] = Field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def size(self) -> int:
        return self.insertions + self.deletions


class AttemptPick(Part):
    """Which attempt is offered (or was published) and why; `by` a person who picked it by hand."""

    attempt: int = 0
    reason: str = ""
    by: str | None = None


class IssueResolutionResult(TaskResult):
    issue: dict[str, Any] | None = None
    base_branch: str | None = None
    base_commit: str | None = None
    baseline: TestsReport | None = None
    tests: TestsReport | None = None
    approval: dict[str, Any] | None = None
    reproduction: ReproductionReport | None = None
    self_review: SelfReview | None = None
    attempts: list[AttemptReport] = Field(default_factory=list)
    picked: AttemptPick | None = None

    @property
    def test_projects(self) -> list[ProjectReport]:
        return self.tests.projects if self.tests is not None else []


class ChangeResult(IssueResolutionResult):
    """A change asked for in words: a resolution whose task is the request (`request`: text, who, where)."""

    request: dict[str, Any] | None = None
    continues: dict[str, Any] | None = None  # a follow-up: the step it built on (task, branch, pull_number)
    review: dict[str, Any] | None = None  # the review it addressed: id, by, comments ({id, thread}), replied
    ci: dict[str, Any] | None = None  # the CI failure it fixed: head_sha, checks, url


class PRReviewResult(TaskResult):
    reviewed_pull: ReviewedPull | None = None
    review: ReviewPosted | None = None
    reviewed_commit: str | None = None
    posted_fingerprints: list[str] = Field(default_factory=list)
    summary: str | None = None


RESULT_TYPES: dict[TaskType, type[TaskResult]] = {
    TaskType.CUSTOM: CustomResult,
    TaskType.TEST_PIPELINE: TestPipelineResult,
    TaskType.ISSUE_RESOLUTION: IssueResolutionResult,
    TaskType.CHANGE: ChangeResult,
    TaskType.PR_REVIEW: PRReviewResult,
}

AnyResult = CustomResult | TestPipelineResult | IssueResolutionResult | ChangeResult | PRReviewResult | TaskResult


def result_of(task: Task) -> AnyResult:
    """The task's result as its type's model (an empty one when there is none yet, or it does not fit)."""
    model = RESULT_TYPES.get(task.type, TaskResult)
    try:
        return model.model_validate(task.result or {})
    except PydanticValidationError as exc:
        log.warning("task %s: its stored result does not fit the %s model: %s", task.id, model.__name__, exc)
        return model()


def _as_written(task_type: TaskType, result: dict[str, Any]) -> dict[str, Any]:
    """The result as its task type's model writes it; raises pydantic's error when it does not fit."""
    model = RESULT_TYPES.get(task_type, TaskResult)
    return model.model_validate(result).model_dump(mode="json", exclude_unset=True)


def stored_result(task_type: TaskType, result: dict[str, Any]) -> dict[str, Any]:
    """What a pipeline produced, as its task type's model writes it (what the store keeps). A result that does
    not fit is a pipeline's bug: logged, and kept as it is rather than lost."""
    try:
        return _as_written(task_type, result)
    except PydanticValidationError as exc:
        model = RESULT_TYPES.get(task_type, TaskResult).__name__
        log.error("a %s result does not fit the %s model (stored as it is): %s", task_type.value, model, exc)
        return result


def result_json(task: Task) -> dict[str, Any] | None:
    """The result as its model writes it (what the API shows); a stored result that does not fit is shown as
    it is stored rather than lost."""
    if task.result is None:
        return None
    try:
        return _as_written(task.type, task.result)
    except PydanticValidationError:
        return task.result


def agent_of(task: Task) -> AgentFigures | None:
    """What the model cost, from the result, or from the metrics of a task that stopped before its result."""
    agent = result_of(task).agent
    if agent is not None:
        return agent
    figures = (task.metrics or {}).get("agent")
    if not isinstance(figures, dict):
        return None
    try:
        return AgentFigures.model_validate(figures)
    except PydanticValidationError:
        return None
