"""The `pr-review` task: a structured code review posted as one GitHub review with line comments.

pull → checkout (the head, in a sandbox the model can read) → plan (skip generated/lock/vendored/binary,
order, chunk to the budget; on a new push only what changed since the last reviewed commit) → review
(the agent, per chunk, reporting findings through a tool) → post (merged, ranked, capped, mapped onto
diff lines — the rest in the body — and never repeating what an earlier review posted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.agent.loop import Agent, AgentProgress, AgentStatus, ModelSettings
from core.agent.tools import SandboxTools
from core.agent.usage import Pricing, TokenUsage
from core.errors import DockhandError, LeaseLostError, StageFailedError, TaskCancelledError
from core.forge import Forge, PullInfo
from core.model_provider import ClientFactory, model_client, sdk_error
from core.pipeline import Pipeline, Stage, StageContext
from core.pipelines import test_pipeline
from core.pipelines.test_pipeline import TestRun, open_sandbox, run_state, sandbox_provider
from core.review.findings import Finding, Severity, merge
from core.review.lines import Diff, draft_review
from core.review.plan import ReviewPlan, plan_review
from core.review.reviewer import ReviewTools, chunk_message, reviewer_prompt, summary_message
from core.specs import PRReviewSpec

if TYPE_CHECKING:
    from core.model_provider import ModelClient

# The last successful review of a PR: its result (reviewed commit, posted fingerprints), or None.
History = Callable[[str, int], dict[str, Any] | None]


class ReviewRun:
    """What the stages of one review share: a checkout in a sandbox (the test pipeline's, composed in), the pull
    request, the plan and the findings."""

    def __init__(self) -> None:
        self.tests = TestRun()
        self.pull: PullInfo | None = None
        self.previous: dict[str, Any] | None = None
        self.plan: ReviewPlan | None = None
        self.commentable: Diff | None = None
        self.since: str | None = None
        self.findings: list[Finding] = []
        self.summary = ""


def _state(ctx: StageContext) -> ReviewRun:
    return run_state(ctx, ReviewRun)


def _spec(ctx: StageContext) -> PRReviewSpec:
    assert isinstance(ctx.spec, PRReviewSpec)
    return ctx.spec


def _repository(ctx: StageContext) -> str:
    if not ctx.task.repository:
        raise StageFailedError("a pr-review task needs a repository (owner/name)")
    return ctx.task.repository


@dataclass(frozen=True, kw_only=True)
class ReviewSettings:
    chunk_chars: int
    max_comments: int
    max_chunks: int


class PullRequestReview:
    def __init__(self, forge: Forge, history: History, *, client_factory: ClientFactory = model_client) -> None:
        self.forge = forge
        self.history = history
        self.client_factory = client_factory

    # --- stages -------------------------------------------------------------------------------
    def pull(self, ctx: StageContext) -> None:
        run, repository, number = _state(ctx), _repository(ctx), _spec(ctx).pr_number
        try:
            run.pull = self.forge.pull_request(repository, number)
        except DockhandError as exc:
            raise StageFailedError(f"cannot read pull request {repository}#{number}: {exc}") from None
        run.previous = self.history(repository, number)
        ctx.result["reviewed_pull"] = {
            "number": number,
            "title": run.pull.title,
            "head_sha": run.pull.head_sha,
            "base_ref": run.pull.base_ref,
            "url": run.pull.url,
        }
        ctx.log.system(f"pull request {repository}#{number}: {run.pull.title} at {run.pull.head_sha[:12]}")

    def checkout(self, ctx: StageContext) -> None:
        run, repository = _state(ctx), _repository(ctx)
        assert run.pull is not None
        try:
            run.tests.tree = self.forge.checkout(repository, f"pull/{run.pull.number}/head", run.tests.tmp / "tree")
        except DockhandError as exc:
            raise StageFailedError(f"checkout of {repository}#{run.pull.number} failed: {exc}") from None
        if run.tests.tree.commit != run.pull.head_sha:
            ctx.log.system(f"the head moved to {run.tests.tree.commit[:12]} since the PR was read: reviewing that")
        open_sandbox(ctx, run.tests, "review")

    def plan(self, ctx: StageContext) -> None:
        run, settings = _state(ctx), _review_settings(ctx)
        assert run.pull is not None and run.tests.tree is not None
        provider = sandbox_provider(ctx)
        try:
            full = provider.diff(run.tests.tree, run.pull.base_sha, context=3, renames=True)
        except DockhandError as exc:
            raise StageFailedError(f"cannot diff the pull request: {exc}") from None
        run.commentable = Diff.parse(full)
        diff = full
        previous_commit = (run.previous or {}).get("reviewed_commit")
        if previous_commit and previous_commit != run.tests.tree.commit:
            try:
                diff = provider.diff(run.tests.tree, previous_commit, context=3, renames=True)
                run.since = previous_commit
            except DockhandError as exc:
                ctx.log.system(f"cannot compare with the last reviewed commit ({exc}): reviewing everything")
        elif previous_commit == run.tests.tree.commit:
            diff = ""
            run.since = previous_commit
        run.plan = plan_review(diff, settings.chunk_chars, max_chunks=settings.max_chunks)
        ctx.result["plan"] = {
            "chunks": len(run.plan.chunks),
            "files": list(run.plan.reviewed_paths),
            "skipped": [{"path": s.path, "reason": s.reason.value} for s in run.plan.skipped],
            "since": run.since,
        }
        ctx.log.system(
            f"reviewing {len(run.plan.reviewed_paths)} files in {len(run.plan.chunks)} parts"
            + (f" (changes since {run.since[:12]})" if run.since else "")
            + (f"; skipped {len(run.plan.skipped)}" if run.plan.skipped else "")
        )

    def review(self, ctx: StageContext) -> None:
        run, settings = _state(ctx), ctx.settings
        assert run.plan is not None and run.pull is not None and run.tests.box is not None
        if not run.plan.chunks:
            run.summary = "No new changes to review." if run.since else "Nothing in this pull request to review."
            return
        client = self.client_factory(settings)
        budget = _spec(ctx).budget_usd or settings.agent_budget_usd
        usage, turns, spent = TokenUsage(), 0, 0.0
        summaries: list[str] = []
        try:
            for index, chunk in enumerate(run.plan.chunks):
                remaining = None if budget is None else budget - spent
                tools = ReviewTools(SandboxTools(run.tests.box, cancelled=lambda: ctx.cancel.cancelled))
                agent = self._agent(ctx, client, tools, remaining, spent_before=spent)
                message = chunk_message(
                    title=run.pull.title, body=run.pull.body, author=run.pull.author, plan=run.plan,
                    chunk=chunk, index=index, incremental_since=run.since,
                )  # fmt: skip
                outcome = agent.start(message)
                usage.add(agent.usage)
                turns += agent.turns
                spent += agent.cost_usd
                run.findings += tools.findings
                if outcome.status is AgentStatus.SUBMITTED and outcome.submission is not None:
                    summaries.append(outcome.submission.body)
                elif outcome.status in (AgentStatus.BUDGET_EXHAUSTED, AgentStatus.API_ERROR, AgentStatus.REFUSED):
                    raise StageFailedError(f"the review stopped: {outcome.status.value}: {outcome.detail}")
                else:
                    summaries.append(f"(part {index + 1} ended without a summary: {outcome.detail})")
            run.summary = summaries[0] if len(summaries) == 1 else self._summarize(ctx, client, summaries, spent)
        except (TaskCancelledError, LeaseLostError):
            raise
        except (DockhandError, sdk_error()) as exc:
            if isinstance(exc, StageFailedError):
                raise
            raise StageFailedError(f"the review stopped: {type(exc).__name__}: {exc}") from None
        finally:
            client.close()
            pricing = Pricing.from_settings(ctx.settings)
            ctx.result["agent"] = {
                "turns": turns,
                "usage": usage.as_dict(),
                "cost_usd": round(pricing.cost(usage), 6),
                "budget_usd": budget,
            }
            ctx.metrics["agent"] = ctx.result["agent"]

    def post(self, ctx: StageContext) -> None:
        run, settings = _state(ctx), _review_settings(ctx)
        assert (
            run.pull is not None and run.plan is not None and run.commentable is not None and run.tests.tree is not None
        )
        already = set((run.previous or {}).get("posted_fingerprints") or [])
        fresh = [f for f in merge(run.findings) if f.fingerprint not in already]
        repeated = len(merge(run.findings)) - len(fresh)
        inline_wanted = fresh[: settings.max_comments]
        over_cap = fresh[settings.max_comments :]
        draft = draft_review(
            review_body(run, fresh, over_cap, repeated, ctx.settings.bot_name),
            [f.as_comment() for f in inline_wanted],
            run.commentable,
        )
        try:
            review_id = self.forge.post_review(
                _repository(ctx),
                run.pull.number,
                commit=run.tests.tree.commit,
                body=draft.body,
                comments=draft.comments,
            )
        except DockhandError as exc:
            raise StageFailedError(f"posting the review failed: {exc}") from None
        ctx.result.update(
            review={"id": review_id, "comments": len(draft.comments), "in_body": len(draft.folded) + len(over_cap)},
            findings=[f.as_dict() for f in fresh],
            reviewed_commit=run.tests.tree.commit,
            posted_fingerprints=sorted(already | {f.fingerprint for f in fresh}),
            summary=run.summary,
        )
        ctx.log.system(
            f"posted review {review_id}: {len(draft.comments)} line comments, "
            f"{len(draft.folded) + len(over_cap)} in the body, {repeated} already posted before"
        )

    def cleanup(self, ctx: StageContext) -> None:
        test_pipeline.cleanup(ctx)

    # --- helpers ------------------------------------------------------------------------------
    def _agent(
        self,
        ctx: StageContext,
        client: ModelClient,
        tools: ReviewTools,
        budget: float | None,
        spent_before: float,
    ) -> Agent:
        settings = ctx.settings

        def progress(update: AgentProgress) -> None:
            total = spent_before + update.cost_usd
            ctx.progress(f"review: ${total:.4f} spent", {"agent": {"cost_usd": round(total, 6), "budget_usd": budget}})

        return Agent(
            client,
            ModelSettings.from_settings(settings, budget),
            tools,
            system=reviewer_prompt(settings.bot_name),
            log=lambda line: ctx.log.agent(line),
            cancel=ctx.cancel,
            on_progress=progress,
        )

    def _summarize(self, ctx: StageContext, client: ModelClient, summaries: list[str], spent: float) -> str:
        run = _state(ctx)
        assert run.pull is not None
        budget = _spec(ctx).budget_usd or ctx.settings.agent_budget_usd
        tools = ReviewTools(None)
        agent = self._agent(ctx, client, tools, None if budget is None else budget - spent, spent_before=spent)
        outcome = agent.start(summary_message(run.pull.title, summaries))
        agent_result = ctx.result.setdefault("summary_usage", {})
        agent_result.update(agent.usage.as_dict())
        if outcome.status is AgentStatus.SUBMITTED and outcome.submission is not None:
            return outcome.submission.body
        return "\n\n".join(summaries)

    def pipeline(self) -> Pipeline:
        return Pipeline(
            name="pr-review",
            stages=(
                Stage("pull", self.pull),
                Stage("checkout", self.checkout),
                Stage("plan", self.plan),
                Stage("review", self.review),
                Stage("post", self.post, irreversible=True),
            ),
            finally_stage=Stage("cleanup", self.cleanup),
        )


def review_body(run: ReviewRun, fresh: list[Finding], over_cap: list[Finding], repeated: int, bot_name: str) -> str:
    """The review's text: the summary, the counts, what was not reviewed and why, and what did not fit inline."""
    assert run.plan is not None
    counts = {s: sum(1 for f in fresh if f.severity is s) for s in Severity}
    shown = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "no findings"
    lines = [f"## {bot_name} review", "", run.summary.strip(), "", f"**Findings:** {shown}."]
    if run.since:
        lines.append(f"Reviewed the changes since `{run.since[:12]}`; {repeated} earlier finding(s) not repeated.")
    if run.plan.skipped:
        lines += ["", "**Not reviewed:**"]
        lines += [f"- `{s.path}` — {s.reason.value}" for s in run.plan.skipped]
    if over_cap:
        lines += ["", f"**More findings** (beyond the {len(fresh) - len(over_cap)} line comments):"]
        lines += [f"- `{f.path}:{f.line}` — {f.severity.value}, {f.category.value}: {f.explanation}" for f in over_cap]
    return "\n".join(lines)


def _review_settings(ctx: StageContext) -> ReviewSettings:
    s = ctx.settings
    return ReviewSettings(
        chunk_chars=s.review_chunk_chars, max_comments=s.review_max_comments, max_chunks=s.review_max_chunks
    )
