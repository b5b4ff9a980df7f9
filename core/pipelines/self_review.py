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
from core.review.findings import Finding, Severity, merge
from core.review.plan import plan_review
from core.review.reviewer import ReviewTools, chunk_message, reviewer_prompt
from core.sandboxing import ExecRequest, LiveSandboxLike

MAX_REMAINING = 20


def review_change(
    ctx: StageContext, client: ModelClient, box: LiveSandboxLike, base: str, *, title: str, budget: float | None
) -> tuple[list[Finding], float]:
    """The reviewer's findings on the agent's change in the sandbox (against `base`), and what they cost."""
    settings = ctx.settings
    diff = box.exec(
        ExecRequest(
            command=f"git add --all --intent-to-add . && git diff --no-color --no-ext-diff {base}", timeout_seconds=120
        )
    )
    if not diff.ok:
        raise DockhandError(f"could not read the change: {diff.stderr.strip()[-300:]}")
    plan = plan_review(diff.stdout, settings.review_chunk_chars, max_chunks=settings.review_max_chunks)
    found: list[Finding] = []
    spent = 0.0
    for index, chunk in enumerate(plan.chunks):
        remaining = None if budget is None else budget - spent
        if remaining is not None and remaining <= 0:
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
        reviewer.start(
            chunk_message(
                title=title, body="(dockhand's own change, before it asks for approval)", author=settings.bot_name,
                plan=plan, chunk=chunk, index=index, incremental_since=None,
            )
        )  # fmt: skip
        spent += reviewer.cost_usd
        found += tools.findings
    return merge(found), spent


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
) -> AgentOutcome | None:
    """Review the submitted change; send `error` findings back to the agent once (`verified` checks its new
    submission as the first one was); record what remains as `self_review`. The agent's new outcome when it was
    sent back (None: its submission stands)."""
    record: dict[str, Any] = {"sent_back": 0, "remaining": [], "cost_usd": 0.0}
    ctx.result["self_review"] = record
    outcome = None
    try:
        findings, spent = review_change(ctx, client, box, base, title=title, budget=_left(budget, agent.cost_usd))
        record["cost_usd"] = round(spent, 6)
        serious = [f for f in findings if f.severity is Severity.ERROR]
        if serious:
            ctx.log.system(f"self-review: {len(serious)} serious findings go back to the agent")
            record["sent_back"] = len(serious)
            outcome = verified(agent.resume(findings_message(serious)))
            if outcome.status is not AgentStatus.SUBMITTED:
                return outcome
            findings, again = review_change(
                ctx, client, box, base, title=title, budget=_left(budget, agent.cost_usd + spent)
            )
            record["cost_usd"] = round(spent + again, 6)
        record["remaining"] = [_note(f) for f in findings[:MAX_REMAINING]]
        ctx.log.system(f"self-review: {len(findings)} findings remain")
    except DockhandError as exc:  # the change stands on its tests; a review that could not run is said
        record["error"] = str(exc)[:500]
        ctx.log.system(f"self-review could not run: {exc}")
    return outcome


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
