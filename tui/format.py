"""How tasks, statuses, results and diffs are drawn: pure functions from core values to rich `Text`."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from core.attempt_choice import attempts_table
from core.evidence import evidence_lines
from core.models import Task
from core.results import IssueResolutionResult, PRReviewResult, agent_of, result_of
from core.service import Core
from core.states import StageStatus, TaskStatus

STATUS_STYLE = {
    TaskStatus.PENDING: "yellow",
    TaskStatus.RUNNING: "bold cyan",
    TaskStatus.AWAITING_APPROVAL: "bold magenta",
    TaskStatus.SUCCEEDED: "green",
    TaskStatus.FAILED: "bold red",
    TaskStatus.CANCELLED: "dim",
}
STAGE_MARK = {
    StageStatus.PENDING: "·",
    StageStatus.RUNNING: "▶",
    StageStatus.SUCCEEDED: "✔",
    StageStatus.FAILED: "✘",
    StageStatus.SKIPPED: "↷",
    StageStatus.CANCELLED: "⊘",
    StageStatus.WAITING: "✋",
}


def ago(seconds: float) -> str:
    seconds = max(seconds, 0)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def status_text(status: TaskStatus) -> Text:
    return Text(status.value, style=STATUS_STYLE[status])


_DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"), ("diff ", "bold"))


def diff_line(line: str) -> Text:
    """A line of a unified diff, coloured as `git diff` colours it."""
    style = next((style for prefix, style in _DIFF_STYLES if line.startswith(prefix)), "")
    return Text(line, style=style)


def result_text(task: Task) -> Text:
    """The result for people: tests, coverage, the change, the PR, tokens and cost, or the error."""
    result = result_of(task)
    text = Text()
    for project in result.test_projects:
        totals, cov = project.totals, project.coverage_percent
        text.append(
            f"tests {project.language} {project.root}: {project.status}, {totals.passed} passed, "
            f"{totals.failed} failed" + (f", coverage {cov:.1f}%" if cov is not None else "") + "\n"
        )
    if result.change:
        change = result.change
        text.append(f"change: {change.files} files, +{change.insertions} -{change.deletions}\n")
    if isinstance(result, IssueResolutionResult):
        for line in evidence_lines(result):
            text.append(f"evidence: {line.strip()}\n" if not line.startswith("  ") else f"  {line.strip()}\n")
        if result.attempts:  # several attempts: their table, the offered (or published) one marked
            picked = result.picked.attempt if result.picked else None
            text.append("".join(f"  {row}\n" for row in attempts_table(result.attempts, picked)))
    agent = agent_of(task)
    if agent:
        usage = agent.usage
        text.append(
            f"agent: {agent.turns} turns, ${agent.cost_usd:.4f}; tokens in "
            f"{usage.input_tokens}, out {usage.output_tokens}, cache read "
            f"{usage.cache_read_input_tokens}, cache write {usage.cache_creation_input_tokens}\n"
        )
    if result.pull_request:
        pull = result.pull_request
        text.append(f"PR: {pull.pull_url} ({pull.branch})\n", style="bold green")
    if isinstance(result, PRReviewResult) and result.review:
        review = result.review
        text.append(f"review posted: {review.comments} line comments, {review.in_body} in its body\n")
    if task.error and task.status is not TaskStatus.SUCCEEDED:
        text.append(f"error: {task.error[:1000]}\n", style="red")
    return text


def shown(core: Core, task: Task) -> Task:
    """A task as the screen shows it: its error and result with secrets redacted (a copy; the store is untouched)."""
    copy = task.model_copy()
    copy.error = core.redactor.text(task.error) if task.error else task.error
    copy.result = core.redactor.value(task.result) if task.result else task.result
    return copy


def log_text(line: Any) -> str:
    return line.line if line.stream.value in ("stdout", "stderr") else f"[{line.stream.value}] {line.line}"
