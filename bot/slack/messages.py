"""The Slack messages dockhand posts, as Block Kit: pure functions of a task and its stages."""

from __future__ import annotations

import re
from typing import Any

from core.attempt_choice import other_attempts
from core.evidence import evidence_lines
from core.models import Task, TaskStage
from core.results import IssueResolutionResult, PRReviewResult, ReviewedPull, agent_of, result_of
from core.states import StageStatus, TaskStatus, TaskType, TriggerSource

APPROVE, REJECT, VIEW_DIFF = "dockhand_approve", "dockhand_reject", "dockhand_view_diff"
FIX_CI = "dockhand_fix_ci"
PICK_ATTEMPT = "dockhand_pick_attempt_"  # + the attempt's number: publish that attempt instead of the one offered
PICK_ATTEMPT_PATTERN = re.compile(rf"^{PICK_ATTEMPT}[0-9]+$")
VIEW_ATTEMPT_DIFF = "dockhand_view_attempt_diff_"  # + the attempt's number: that attempt's diff, privately
VIEW_ATTEMPT_DIFF_PATTERN = re.compile(rf"^{VIEW_ATTEMPT_DIFF}[0-9]+$")
MAX_SECTION = 2900  # Slack's limit is 3000 characters per section text

_STATUS = {
    TaskStatus.PENDING: ":hourglass_flowing_sand: queued",
    TaskStatus.RUNNING: ":gear: running",
    TaskStatus.AWAITING_APPROVAL: ":raised_hand: waiting for approval",
    TaskStatus.SUCCEEDED: ":white_check_mark: succeeded",
    TaskStatus.FAILED: ":x: failed",
    TaskStatus.CANCELLED: ":no_entry_sign: cancelled",
}
_STAGE = {
    StageStatus.PENDING: "▫️",
    StageStatus.RUNNING: "⏳",
    StageStatus.SUCCEEDED: "✅",
    StageStatus.FAILED: "❌",
    StageStatus.SKIPPED: "⏭",
    StageStatus.CANCELLED: "🚫",
    StageStatus.WAITING: "✋",
}
_KIND = {
    TaskType.ISSUE_RESOLUTION: "Resolve",
    TaskType.CHANGE: "Change",
    TaskType.PR_REVIEW: "Review",
    TaskType.TEST_PIPELINE: "Tests",
    TaskType.CUSTOM: "Command",
}


def escape(text: str) -> str:
    """Text for mrkdwn: `&`, `<` and `>` escaped, so nothing in it becomes a mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int = MAX_SECTION) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code_block(text: str, limit: int = MAX_SECTION - 10) -> str:
    """Text shown as code: escaped, fences inside it broken (so it cannot end the block), clipped, then fenced."""
    inner = escape(text).replace("```", "`\u200b``")
    return f"```{clip(inner, limit)}```"


def what(task: Task, web_url: str) -> str:
    target = task.trigger_ref or task.repository or ""
    repo = task.repository
    link = f"<{web_url.rstrip('/')}/{repo}|{escape(target)}>" if repo else escape(target)
    return f"*{_KIND[task.type]}* {link}"


def starter(task: Task) -> str:
    """Who started a task: a Slack mention for Slack users, the name otherwise."""
    if task.trigger_source is TriggerSource.SLACK and task.triggered_by.isalnum():
        return f"<@{task.triggered_by}>"
    return escape(task.triggered_by)


def parent_text(task: Task) -> str:
    return f"{_KIND[task.type]} {task.trigger_ref or task.repository or ''}: {task.status.value} (task {task.id})"


def parent_blocks(task: Task, stages: list[TaskStage], web_url: str) -> list[dict[str, Any]]:
    """The task's one parent message: what, status, stages at a glance, cost."""
    line = f"{what(task, web_url)} · task `{task.id}` · {_STATUS[task.status]}"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": clip(line)}}]
    if stages:
        glance = "  ".join(f"{_STAGE[s.status]} {s.name}" for s in stages)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(glance)}]})
    facts = [f"started by {starter(task)}"] if task.triggered_by else []
    agent = agent_of(task)
    if agent:
        budget = agent.budget_usd
        facts.append(f"agent: {agent.turns} turns, ${agent.cost_usd:.2f}" + (f" of ${budget:.2f}" if budget else ""))
    result = result_of(task)
    if result.pull_request:
        facts.append(f"<{result.pull_request.pull_url}|PR #{result.pull_request.pull_number}>")
    if facts:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(" · ".join(facts))}]})
    return blocks


def result_text(task: Task) -> str:
    """The thread's last word on a task."""
    result = result_of(task)
    lines = [f"{_STATUS[task.status]}"]
    if result.pull_request:
        pull = result.pull_request
        lines.append(f"Opened <{pull.pull_url}|PR #{pull.pull_number}> from `{escape(pull.branch)}`.")
    if isinstance(result, PRReviewResult) and result.review:
        reviewed = result.reviewed_pull or ReviewedPull()
        lines.append(
            f"Posted a review on <{reviewed.url}|PR #{reviewed.number or ''}>: "
            f"{result.review.comments} line comments, {result.review.in_body} more in its body."
        )
    if isinstance(result, IssueResolutionResult):
        lines += [
            f"{'    ' if line.startswith('  ') else ''}• {escape(line.strip())}" for line in evidence_lines(result)
        ]
    for project in result.test_projects:
        lines.append(
            f"• {escape(project.language)} `{escape(project.root)}`: {escape(project.status)}, "
            f"{project.totals.passed} passed, {project.totals.failed} failed"
        )
    if task.error and task.status is not TaskStatus.SUCCEEDED:
        lines.append(f"> {escape(clip(task.error, 1500))}")
    return clip("\n".join(lines))


def ci_failed_blocks(task: Task, checks: list[str], summary: str, why_not: str) -> list[dict[str, Any]]:
    """CI failed on the pull request a step pushed to, and no fix started on its own: why not, and a button."""
    head = f":red_circle: *CI failed* on the pull request: {escape(', '.join(checks))}"
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(head)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": code_block(summary or "(no summary)", 1500)}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": clip(f"Not fixing it on my own: {escape(why_not)}.")}],
        },
        {
            "type": "actions",
            "block_id": f"fix-ci-{task.id}",
            "elements": [_button("Fix it", FIX_CI, task.id, "primary")],
        },
    ]


def approval_blocks(task: Task, summary: str, decided: str | None = None) -> list[dict[str, Any]]:
    """Approve / Reject / View diff — or, once decided, who decided."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": ":raised_hand: *Ready to publish — approve?*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": code_block(summary)}},
    ]
    if decided is not None:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(decided)}]})
        return blocks
    others = other_attempts(task)
    blocks.append(
        {
            "type": "actions",
            "block_id": f"approval-{task.id}",
            "elements": [
                _button("Approve", APPROVE, task.id, "primary"),
                _button("Reject", REJECT, task.id, "danger"),
                _button("View diff", VIEW_DIFF, task.id, None),
                *(
                    button
                    for n in others
                    for button in (
                        _button(f"Diff of attempt {n}", f"{VIEW_ATTEMPT_DIFF}{n}", task.id, None),
                        _button(f"Publish attempt {n} instead", f"{PICK_ATTEMPT}{n}", task.id, None),
                    )
                ),
            ],
        }
    )
    return blocks


def _button(label: str, action_id: str, value: str, style: str | None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def diff_text(diff: str) -> str:
    if not diff.strip():
        return "The change is not available on this host."
    return code_block(diff)
