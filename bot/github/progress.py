"""One progress comment per task on the issue or PR that started it, edited in place.

An event-bus subscriber: its own thread and bounded queue, so a slow or failing GitHub never stalls a
task. The comment's id is stored (`Notification`), so whichever process sees the next event edits
the same comment instead of adding one.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict

from bot.github.client import CheckConclusion, CheckStatus
from bot.github.intake import ClientFor, github_client, installation_for
from core.events import TaskEventRecord
from core.evidence import as_bullets, evidence_lines
from core.models import Task, TaskStage
from core.results import (
    ChangeStats,
    IssueResolutionResult,
    PRReviewResult,
    TestPipelineResult,
    agent_of,
    result_of,
)
from core.service import Core
from core.states import EventKind, StageStatus, TaskStatus, TaskType, TriggerSource

log = logging.getLogger(__name__)

CHANNEL = "github-comment"
CHECK_RUN_CHANNEL = "github-check-run"
_REF = re.compile(r"^(?P<repo>[^/#\s]+/[^/#\s]+)#(?P<number>\d+)$")
_MARK = {
    StageStatus.PENDING: "⬜",
    StageStatus.RUNNING: "⏳",
    StageStatus.SUCCEEDED: "✅",
    StageStatus.FAILED: "❌",
    StageStatus.SKIPPED: "⏭",
    StageStatus.CANCELLED: "🚫",
    StageStatus.WAITING: "✋",
}
_SHOWN = {
    EventKind.CLAIMED,
    EventKind.STAGE_STARTED,
    EventKind.STAGE_FINISHED,
    EventKind.RETRY_SCHEDULED,
    EventKind.CANCEL_REQUESTED,
    EventKind.APPROVAL_REQUESTED,
    EventKind.APPROVAL_DECIDED,
    EventKind.FINISHED,
}


def render(task: Task, stages: list[TaskStage], bot_name: str) -> str:
    """The comment's text: what runs, a checklist of stages, and the result once there is one."""
    lines = [f"**{bot_name}** · {task.type.value} `{task.id}` — **{task.status.value}**", ""]
    for stage in stages:
        took = f" ({stage.duration_seconds:.1f}s)" if stage.duration_seconds is not None else ""
        lines.append(f"- {_MARK[stage.status]} {stage.name}{took}")
    result = result_of(task)
    agent = agent_of(task)
    if agent:
        budget = agent.budget_usd
        lines += ["", f"Agent: {agent.turns} turns, ${agent.cost_usd:.2f}"
                  + (f" of a ${budget:.2f} budget" if budget else "")]  # fmt: skip
    if task.status is TaskStatus.AWAITING_APPROVAL:
        change = result.change or ChangeStats()
        draft = result.pull_request_draft
        tests = result.tests if isinstance(result, IssueResolutionResult) else None
        lines += [
            "",
            f"Ready to open **{draft.title if draft else 'a pull request'}**: {change.files} files changed "
            f"(+{change.insertions} -{change.deletions}), tests {tests.status if tests else 'not run'}.",
            f"Someone with write access can comment `@{bot_name} approve` (or `@{bot_name} cancel`).",
        ]
    if isinstance(result, IssueResolutionResult) and (evidence := evidence_lines(result)):
        lines += ["", "**Evidence**", *as_bullets(evidence)]
    if result.pull_request:
        lines += ["", f"Opened {result.pull_request.pull_url} from `{result.pull_request.branch}`."]
    if isinstance(result, PRReviewResult) and result.review:
        review = result.review
        lines += ["", f"Posted a review: {review.comments} line comments, {review.in_body} more in its body."]
    if task.status.is_final:
        lines.append("")
        if isinstance(result, TestPipelineResult):
            for project in result.projects:
                totals, cov = project.totals, project.coverage_percent
                lines.append(
                    f"- {project.language} `{project.root}`: {project.status}, "
                    f"{totals.passed} passed, {totals.failed} failed, "
                    f"{totals.skipped} skipped" + (f", coverage {cov:.1f}%" if cov is not None else "")
                )
        if task.error and task.status is not TaskStatus.SUCCEEDED:
            lines.append(f"> {task.error[:500]}")
    return "\n".join(lines)


class ProgressComments:
    def __init__(self, core: Core, client_for: ClientFor) -> None:
        self.core = core
        self.client_for = client_for
        # What each comment last said (a digest), so an event that changes nothing shown sends nothing.
        self._sent: OrderedDict[int, str] = OrderedDict()

    def __call__(self, event: TaskEventRecord) -> None:
        if event.kind not in _SHOWN:
            return
        task = self.core.task(event.task_id)
        match = _REF.match(task.trigger_ref or "")
        if task.trigger_source is not TriggerSource.GITHUB or match is None:
            return
        repo, number = match["repo"], int(match["number"])
        body = render(task, self.core.stages.list(task.id), self.core.settings.bot_name)
        digest = hashlib.sha256(body.encode()).hexdigest()
        comment_id = self._comment_id(task.id)
        if comment_id is not None and self._sent.get(comment_id) == digest:
            return  # the comment already says exactly this
        with github_client(self.client_for, installation_for(self.core, repo)) as client:
            if comment_id is None:
                new_id = client.comment(repo, number, body)
                if self._remember(task.id, new_id):
                    self._note(new_id, digest)
                else:  # another process posted first: edit that one
                    comment_id = self._comment_id(task.id)
            if comment_id is not None:
                client.edit_comment(repo, number, comment_id, body)
                self._note(comment_id, digest)

    def _note(self, comment_id: int, digest: str) -> None:
        self._sent[comment_id] = digest
        self._sent.move_to_end(comment_id)
        while len(self._sent) > 2000:
            self._sent.popitem(last=False)

    def _comment_id(self, task_id: str) -> int | None:
        return _notification(self.core, task_id, CHANNEL)

    def _remember(self, task_id: str, comment_id: int) -> bool:
        return self.core.notifications.remember(task_id, CHANNEL, str(comment_id))


def _notification(core: Core, task_id: str, channel: str) -> int | None:
    found = core.notifications.get(task_id, channel)
    return int(found) if found is not None else None


def attach_progress(core: Core, client_for: ClientFor) -> None:
    core.bus.subscribe(ProgressComments(core, client_for), name="github-progress", maxsize=10_000)
    core.bus.subscribe(CommitStatuses(core, client_for), name="github-statuses", maxsize=10_000)


_SHA = re.compile(r"^[0-9a-f]{40}$")


class CommitStatuses:
    """Commit statuses for GitHub-triggered test pipelines (check runs when dockhand is a GitHub App):
    pending or in progress when a run starts, then its outcome."""

    context = "dockhand/tests"

    def __init__(self, core: Core, client_for: ClientFor) -> None:
        self.core = core
        self.client_for = client_for

    def __call__(self, event: TaskEventRecord) -> None:
        if event.kind not in (EventKind.CLAIMED, EventKind.FINISHED):
            return
        task = self.core.task(event.task_id)
        if task.type is not TaskType.TEST_PIPELINE or task.trigger_source is not TriggerSource.GITHUB:
            return
        if not task.repository:
            return
        result = result_of(task)
        assert isinstance(result, TestPipelineResult)
        sha = str(result.commit or task.payload.get("ref") or "")
        if not _SHA.match(sha):
            return  # a branch name or pull/N/head: the commit is known only once checked out
        if self.core.settings.github_app_id is not None:
            self._check_run(event, task, sha, result)
            return
        if event.kind is EventKind.CLAIMED:
            state, description = "pending", "tests running"
        else:
            state = {TaskStatus.SUCCEEDED: "success", TaskStatus.CANCELLED: "error"}.get(task.status, "failure")
            if result.status == "error":
                state = "error"
            description = summarize(result) or (task.error or task.status.value)
        with github_client(self.client_for, installation_for(self.core, task.repository)) as client:
            client.status(task.repository, sha, state, context=self.context, description=description)

    def _check_run(self, event: TaskEventRecord, task: Task, sha: str, result: TestPipelineResult) -> None:
        """With a GitHub App: one check run per task, in progress, then completed with the outcome."""
        assert task.repository is not None
        with github_client(self.client_for, installation_for(self.core, task.repository)) as client:
            run_id = _notification(self.core, task.id, CHECK_RUN_CHANNEL)
            if event.kind is EventKind.CLAIMED:
                if run_id is None:
                    new_id = client.create_check_run(
                        task.repository,
                        name=self.context,
                        head_sha=sha,
                        status=CheckStatus.IN_PROGRESS,
                        external_id=task.id,
                    )
                    self.core.notifications.remember(task.id, CHECK_RUN_CHANNEL, str(new_id))
                return
            conclusion = {
                TaskStatus.SUCCEEDED: CheckConclusion.SUCCESS,
                TaskStatus.CANCELLED: CheckConclusion.CANCELLED,
            }.get(task.status, CheckConclusion.FAILURE)
            title = summarize(result) or (task.error or task.status.value)
            summary = render(task, self.core.stages.list(task.id), self.core.settings.bot_name)
            if run_id is None:
                client.create_check_run(
                    task.repository,
                    name=self.context,
                    head_sha=sha,
                    conclusion=conclusion,
                    title=title[:200],
                    summary=summary,
                    external_id=task.id,
                )
            else:
                client.update_check_run(
                    task.repository, run_id, conclusion=conclusion, title=title[:200], summary=summary
                )


def summarize(result: TestPipelineResult) -> str:
    parts = []
    for project in result.projects:
        cov = project.coverage_percent
        parts.append(
            f"{project.language}: {project.totals.passed} passed, {project.totals.failed} failed"
            + (f", {cov:.0f}% covered" if cov is not None else "")
        )
    return "; ".join(parts)
