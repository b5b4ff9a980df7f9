"""A follow-up: a change that continues an earlier step's pull request (same branch, same PR) — "also handle
negatives" in the task's Slack thread. The earlier step's result says where its work is and what it did."""

from __future__ import annotations

from dataclasses import dataclass

from core.agent.prompt import attribute, sanitize
from core.errors import StageFailedError
from core.models import Task
from core.results import IssueResolutionResult, result_of
from core.states import TaskStatus, TaskType

MAX_EARLIER_DIFF_CHARS = 20_000


@dataclass(frozen=True, kw_only=True)
class EarlierStep:
    task_id: str
    branch: str
    pull_number: int
    pull_url: str
    title: str
    summary: str  # what the agent said it did (its PR draft's body)
    tests: str  # the tests' status after it


def earlier_step(task: Task | None, task_id: str, repository: str) -> EarlierStep:
    """The step a follow-up continues: a finished change of the same repository with an open pull request."""
    if task is None:
        raise StageFailedError(f"there is no task {task_id} to continue")
    result = result_of(task)
    if task.type not in (TaskType.ISSUE_RESOLUTION, TaskType.CHANGE):
        raise StageFailedError(f"task {task.id} is a {task.type.value} task: only a change or a resolution continues")
    if task.repository != repository:
        raise StageFailedError(f"task {task.id} worked on {task.repository}, not {repository}")
    if task.status is not TaskStatus.SUCCEEDED or result.pull_request is None:
        raise StageFailedError(f"task {task.id} opened no pull request to continue ({task.status.value})")
    draft = result.pull_request_draft
    tests = result.tests.status if isinstance(result, IssueResolutionResult) and result.tests else "not run"
    return EarlierStep(
        task_id=task.id,
        branch=result.pull_request.branch,
        pull_number=result.pull_request.pull_number,
        pull_url=result.pull_request.pull_url,
        title=draft.title if draft else "",
        summary=draft.body if draft else "",
        tests=tests,
    )


def earlier_work(step: EarlierStep, diff: str) -> str:
    """What the agent is told of the work it continues: the branch it is on, what it did, the diff so far."""
    shown = diff if len(diff) <= MAX_EARLIER_DIFF_CHARS else diff[:MAX_EARLIER_DIFF_CHARS] + "\n[… diff cut …]"
    return "\n".join(
        [
            "",
            f"This continues earlier work: you are on its branch {step.branch} (pull request #{step.pull_number}).",
            f'<earlier-work title="{attribute(step.title)}" tests="{attribute(step.tests)}">',
            sanitize(step.summary or "(no summary)", 5000),
            "</earlier-work>",
            "The change so far (against the base branch):",
            "<untrusted-diff>",
            sanitize(shown, MAX_EARLIER_DIFF_CHARS + 100) or "(none)",
            "</untrusted-diff>",
            "Build on it: keep what was done unless the request says otherwise.",
        ]
    )
