"""dockhand reviews its own change before asking anyone: the pull-request reviewer (same tools, same structured
findings) reads the agent's diff in the sandbox. Findings of `error` severity go back to the agent for one more
round (its change is then checked again); what remains after that is listed in the approval request and the pull
request, so the person who approves sees what dockhand itself doubts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.agent.loop import Agent, AgentOutcome, AgentStatus, ModelSettings
from core.agent.prompt import attribute, sanitize
from core.agent.tools import SandboxTools
from core.errors import DockhandError
from core.model_provider import ModelClient
from core.pipeline import StageContext
from core.pipelines.work_tree import restore, snapshot, work_diff
from core.review.findings import Finding, Severity, merge
from core.review.plan import plan_review
from core.review.reviewer import ReviewTools, chunk_message, reviewer_prompt
from core.sandboxing import LiveSandboxLike

MAX_REMAINING = 20


def review_change(
    ctx: StageContext, client: ModelClient, box: LiveSandboxLike, base: str, *, title: str, budget: float | None
) -> tuple[list[Finding], float, list[str]]:
    """The reviewer's findings on the agent's change in the sandbox (against `base`), what they cost, and what
    was not reviewed (a part it could not finish, files left out): a review that failed never looks clean."""
    settings = ctx.settings
    plan = plan_review(work_diff(box, base), settings.review_chunk_chars, max_chunks=settings.review_max_chunks)
    found: list[Finding] = []
    gaps = [f"{len(plan.skipped)} files not reviewed"] if plan.skipped else []
    spent = 0.0
    for index, chunk in enumerate(plan.chunks):
        remaining = None if budget is None else budget - spent
        if remaining is not None and remaining <= 0:
            gaps.append(f"parts {index + 1}-{len(plan.chunks)} not reviewed: the budget is spent")
            break
        tools = ReviewTools(SandboxTools(box, cancelled=lambda: ctx.cancel.cancelled))
        reviewer = Agent(
            client,
            ModelSettings.from_settings(settings, remaining),
            tools,
            system=reviewer_prompt(settings.bot_name),
            log=lambda line: ctx.log.agent(f"self-review: {line}"),
            cancel=ctx.cancel,
        )
        outcome = reviewer.start(
            chunk_message(
                title=title, body="(dockhand's own change, before it asks for approval)", author=settings.bot_name,
                plan=plan, chunk=chunk, index=index, incremental_since=None,
            )
        )  # fmt: skip
        spent += reviewer.cost_usd
        found += tools.findings
        if outcome.status is not AgentStatus.SUBMITTED:
            gaps.append(f"part {index + 1} did not finish ({outcome.status.value})")
    return merge(found), spent, gaps


def findings_message(findings: list[Finding]) -> str:
    """What goes back to the agent: the serious findings on its change, as data from a reviewer."""
    parts = ["A review of your change found problems to fix before it is proposed (then submit again):"]
    for finding in findings:
        parts += [
            f'<review-finding path="{attribute(finding.path)}" line="{finding.line}" severity="{finding.severity}">',
            sanitize(finding.explanation, 3000),
            "</review-finding>",
        ]
    return "\n".join(parts)


def self_review(
    ctx: StageContext,
    client: ModelClient,
    box: LiveSandboxLike,
    base: str,
    *,
    agent: Agent,
    title: str,
    budget: float | None,
    verified: Callable[[AgentOutcome], AgentOutcome],
    recheck: Callable[[], bool],
) -> AgentOutcome | None:
    """Review the submitted change; send `error` findings back to the agent once (`verified` checks its new
    submission as the first one was); record what remains as `self_review`. The agent's new outcome when it was
    sent back and its new change stands (None: the first submission stands). The reviewer may only read: whatever
    it changes in the checkout is put back. When the agent cannot address the findings, the change as first
    checked is put back and offered (`recheck` runs its checks again), with the findings listed."""
    record: dict[str, Any] = {"sent_back": 0, "remaining": [], "cost_usd": 0.0, "gaps": []}
    ctx.result["self_review"] = record
    try:
        checked = snapshot(box)
        findings = _review(ctx, client, box, base, record, title=title, budget=_left(budget, agent.cost_usd),
                           tree=checked)  # fmt: skip
        serious = [f for f in findings if f.severity is Severity.ERROR]
        if not serious:
            record["remaining"] = [_note(f) for f in findings[:MAX_REMAINING]]
            return None
        ctx.log.system(f"self-review: {len(serious)} serious findings go back to the agent")
        record["sent_back"] = len(serious)
        outcome = verified(agent.resume(findings_message(serious)))
        if outcome.status is not AgentStatus.SUBMITTED:
            restore(box, checked)
            if not recheck():
                return outcome
            record["gaps"].append(f"the agent could not address the findings ({outcome.status.value})")
            record["remaining"] = [_note(f) for f in findings[:MAX_REMAINING]]
            return None
        left = _left(budget, agent.cost_usd + record["cost_usd"])
        findings = _review(ctx, client, box, base, record, title=title, budget=left, tree=snapshot(box))
        record["remaining"] = [_note(f) for f in findings[:MAX_REMAINING]]
        ctx.log.system(f"self-review: {len(findings)} findings remain")
        return outcome
    except DockhandError as exc:  # the change stands on its tests; a review that could not run is said
        record["error"] = str(exc)[:500]
        ctx.log.system(f"self-review could not run: {exc}")
        return None


def _review(
    ctx: StageContext, client: ModelClient, box: LiveSandboxLike, base: str, record: dict[str, Any], *,
    title: str, budget: float | None, tree: str,
) -> list[Finding]:  # fmt: skip
    findings, spent, gaps = review_change(ctx, client, box, base, title=title, budget=budget)
    record["cost_usd"] = round(record["cost_usd"] + spent, 6)
    record["gaps"] += gaps
    if snapshot(box) != tree:  # it ran something that changed files: not part of the change
        restore(box, tree)
        record["gaps"].append("the reviewer changed files; they were put back")
    return findings


def _left(budget: float | None, spent: float) -> float | None:
    return None if budget is None else max(budget - spent, 0.0)


def _note(finding: Finding) -> dict[str, Any]:
    title = " ".join(finding.explanation.split())
    return {
        "severity": finding.severity.value,
        "path": finding.path,
        "line": finding.line,
        "title": title if len(title) <= 160 else title[:159] + "…",
    }
