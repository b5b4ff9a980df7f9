"""What the Slack commands that start no task answer: `status`, `cancel`, `stop`, `channel-repo`, `help`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.slack.access import SlackAccess
from bot.slack.commands import USAGE, Cancel, ChannelRepo, Help, Status, Stop
from bot.slack.messages import escape
from core import conversation
from core.conversation import all_steps, steps_before
from core.errors import DockhandError, NotFoundError
from core.models import Task
from core.results import agent_of
from core.service import Core
from core.states import TaskStatus, TriggerSource
from core.store.queue_types import TaskFilter


@dataclass(frozen=True, kw_only=True)
class Requester:
    user: str
    channel: str
    name: str = ""


def channel_repo(core: Core, access: SlackAccess, command: ChannelRepo, who: Requester) -> str:
    """Show, set or clear the repository this channel works on."""
    if command.clear:
        had = core.channels.clear(who.channel)
        return "This channel no longer has a repository." if had else "This channel has no repository."
    if command.repository is None:
        current = core.channels.get(who.channel)
        if current is None:
            return "This channel has no repository: `/agent channel-repo owner/repo` sets one."
        return f"This channel works on {current}: mention me with what to change."
    if not access.repository_allowed(command.repository):
        return f"Sorry, dockhand is not set up to work on {command.repository} from Slack."
    core.channels.set(who.channel, command.repository, by=f"Slack {who.user}")
    return f"This channel now works on {command.repository}: mention me with what to change."


def answer(core: Core, access: SlackAccess, command: Help | Status) -> str:
    if isinstance(command, Help):
        return USAGE
    if command.task_id is not None:
        try:
            task = core.task(command.task_id)
        except NotFoundError:
            return f"There is no task {command.task_id}."
        if task.repository and not access.repository_allowed(task.repository):
            return f"There is no task {command.task_id}."
        return task_line(task)
    active = [
        task
        for task in core.tasks(
            TaskFilter(statuses=(TaskStatus.RUNNING, TaskStatus.PENDING, TaskStatus.AWAITING_APPROVAL), limit=50)
        )
        if not task.repository or access.repository_allowed(task.repository)
    ][:20]
    if not active:
        return "Nothing is running or waiting."
    return "\n".join(task_line(task) for task in active)


def _task_for(core: Core, access: SlackAccess, task_id: str) -> Task | str:
    """The task a command names, or what to answer when there is none (or none this Slack may act on)."""
    try:
        task = core.task(task_id)
    except NotFoundError:
        return f"There is no task {task_id}."
    if task.repository and not access.repository_allowed(task.repository):
        return f"Sorry, dockhand is not set up to work on {task.repository} from Slack."
    return task


def cancel(core: Core, access: SlackAccess, command: Cancel, who: Requester) -> str:
    target = _task_for(core, access, command.task_id)
    if isinstance(target, str):
        return target
    try:
        task = core.cancel(command.task_id, by=f"Slack {who.user}", source=TriggerSource.SLACK)
    except DockhandError as exc:
        return f"Could not cancel {command.task_id}: {exc}"
    return f"Task {task.id}: {'cancelled' if task.status is TaskStatus.CANCELLED else 'stopping'}."


def stop(core: Core, access: SlackAccess, command: Stop, who: Requester) -> str:
    """End a task's conversation: its newest step is cancelled if it still works, and no follow-up starts on its
    own any more (CI failures are reported instead)."""
    if command.task_id is None:
        return "Which conversation? Mention me with `stop` in the task's thread, or `/agent stop <task>`."
    task = _task_for(core, access, command.task_id)
    if isinstance(task, str):
        return task
    first = steps_before(core.queue, task)[0]
    conversation.stop(core.notifications, first, by=f"Slack {who.user}")
    said = f"The conversation of task {first.id} is stopped: nothing more starts on its own."
    for step in all_steps(core.queue, first):
        if step.status.is_final:
            continue
        try:
            core.cancel(step.id, by=f"Slack {who.user}", source=TriggerSource.SLACK)
            said += f" Task {step.id} is stopping."
        except DockhandError as exc:
            said += f" Task {step.id} could not be cancelled: {exc}"
    return said


def task_line(task: Task) -> str:
    agent = agent_of(task)
    cost = f", ${agent.cost_usd:.2f}" if agent and agent.cost_usd else ""
    target = escape(task.trigger_ref or task.repository or "")
    return f"`{task.id}` {task.type.value} {target}: *{task.status.value}*{cost}"
