"""One progress comment per task on the issue or PR that started it, edited in place.

An event-bus subscriber: its own thread and bounded queue, so a slow or failing GitHub never stalls a
task. The comment's id is stored (`Notification`), so whichever process sees the next event edits
the same comment instead of adding one.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from bot.github.intake import ClientFor, github_client, installation_for
from core.events import TaskEventRecord
from core.models import Notification, Task, TaskStage
from core.service import Core
from core.states import EventKind, StageStatus, TaskStatus, TaskType, TriggerSource

log = logging.getLogger(__name__)

CHANNEL = "github-comment"
_REF = re.compile(r"^(?P<repo>[^/#\s]+/[^/#\s]+)#(?P<number>\d+)$")
_MARK = {
    StageStatus.PENDING: "⬜",
    StageStatus.RUNNING: "⏳",
    StageStatus.SUCCEEDED: "✅",
    StageStatus.FAILED: "❌",
    StageStatus.SKIPPED: "⏭",
    StageStatus.CANCELLED: "🚫",
}
_SHOWN = {
    EventKind.CLAIMED,
    EventKind.STAGE_STARTED,
    EventKind.STAGE_FINISHED,
    EventKind.RETRY_SCHEDULED,
    EventKind.CANCEL_REQUESTED,
    EventKind.FINISHED,
}


def render(task: Task, stages: list[TaskStage], bot_name: str) -> str:
    """The comment's text: what runs, a checklist of stages, and the result once there is one."""
    lines = [f"**{bot_name}** · {task.type.value} `{task.id}` — **{task.status.value}**", ""]
    for stage in stages:
        took = f" ({stage.duration_seconds:.1f}s)" if stage.duration_seconds is not None else ""
        lines.append(f"- {_MARK[stage.status]} {stage.name}{took}")
    if task.status.is_final:
        lines.append("")
        result = task.result or {}
        if result.get("projects"):
            for project in result["projects"]:
                totals = project.get("totals") or {}
                cov = project.get("coverage_percent")
                lines.append(
                    f"- {project['language']} `{project['root']}`: {project['status']}, "
                    f"{totals.get('passed', 0)} passed, {totals.get('failed', 0)} failed, "
                    f"{totals.get('skipped', 0)} skipped" + (f", coverage {cov:.1f}%" if cov is not None else "")
                )
        if task.error and task.status is not TaskStatus.SUCCEEDED:
            lines.append(f"> {task.error[:500]}")
    return "\n".join(lines)


class ProgressComments:
    def __init__(self, core: Core, client_for: ClientFor) -> None:
        self.core = core
        self.client_for = client_for

    def __call__(self, event: TaskEventRecord) -> None:
        if event.kind not in _SHOWN:
            return
        task = self.core.task(event.task_id)
        match = _REF.match(task.trigger_ref or "")
        if task.trigger_source is not TriggerSource.GITHUB or match is None:
            return
        repo, number = match["repo"], int(match["number"])
        body = render(task, self.core.stages.list(task.id), self.core.settings.bot_name)
        with github_client(self.client_for, installation_for(self.core, repo)) as client:
            comment_id = self._comment_id(task.id)
            if comment_id is None:
                new_id = client.comment(repo, number, body)
                if not self._remember(task.id, new_id):  # another process posted first: edit that one
                    comment_id = self._comment_id(task.id)
            if comment_id is not None:
                client.edit_comment(repo, number, comment_id, body)

    def _comment_id(self, task_id: str) -> int | None:
        with self.core.db.read() as session:
            row = session.exec(
                select(Notification).where(Notification.task_id == task_id, Notification.channel == CHANNEL)
            ).first()
        return int(row.external_id) if row is not None else None

    def _remember(self, task_id: str, comment_id: int) -> bool:
        try:
            with self.core.db.write() as session:
                session.add(Notification(task_id=task_id, channel=CHANNEL, external_id=str(comment_id)))
        except sa.exc.IntegrityError:
            return False
        return True


def attach_progress(core: Core, client_for: ClientFor) -> None:
    core.bus.subscribe(ProgressComments(core, client_for), name="github-progress", maxsize=10_000)
    core.bus.subscribe(CommitStatuses(core, client_for), name="github-statuses", maxsize=10_000)


_SHA = re.compile(r"^[0-9a-f]{40}$")


class CommitStatuses:
    """Commit statuses for GitHub-triggered test pipelines: pending when a run starts, then its outcome."""

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
        result = task.result or {}
        sha = str(result.get("commit") or task.payload.get("ref") or "")
        if not _SHA.match(sha):
            return  # a branch name or pull/N/head: the commit is known only once checked out
        if event.kind is EventKind.CLAIMED:
            state, description = "pending", "tests running"
        else:
            state = {TaskStatus.SUCCEEDED: "success", TaskStatus.CANCELLED: "error"}.get(task.status, "failure")
            if result.get("status") == "error":
                state = "error"
            description = summarize(result) or (task.error or task.status.value)
        with github_client(self.client_for, installation_for(self.core, task.repository)) as client:
            client.status(task.repository, sha, state, context=self.context, description=description)


def summarize(result: dict[str, Any]) -> str:
    parts = []
    for project in result.get("projects") or []:
        totals = project.get("totals") or {}
        cov = project.get("coverage_percent")
        parts.append(
            f"{project['language']}: {totals.get('passed', 0)} passed, {totals.get('failed', 0)} failed"
            + (f", {cov:.0f}% covered" if cov is not None else "")
        )
    return "; ".join(parts)
