"""The agent's part of a resolution: one attempt at the change in one sandbox. The agent is asked to reproduce the
problem first, each submission is checked (the reproduction must pass now, then the project's tests), failures go
back to it in bounded rounds, and dockhand reviews the change it settles on before anyone is asked.

The resolution runs this once, or several times at once in sandboxes of their own (`core.pipelines.attempts`);
an attempt's results go to the context it is given, its artifacts under `Resolution.label`."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace

from core.agent.loop import Agent, AgentOutcome, AgentProgress, AgentStatus, ModelSettings
from core.agent.prompt import change_message, failures_message, system_prompt, task_message
from core.agent.tools import SandboxTools, Toolbox
from core.errors import DockhandError, LeaseLostError, StageFailedError, TaskCancelledError
from core.forge import IssueThread, ReviewFeedback
from core.model_provider import ModelClient, sdk_error
from core.pipeline import StageContext
from core.pipelines.change_stats import agent_figures
from core.pipelines.feedback import ci_message, review_message
from core.pipelines.follow_up import EarlierStep, earlier_work
from core.pipelines.repository_context import repository_context
from core.pipelines.reproduction import REPRODUCE_FIRST, ReproducingTools, changed_by_agent
from core.pipelines.self_review import self_review
from core.pipelines.test_pipeline import TestRun, collect_results, execute_tests, reset_projects, sandbox_provider
from core.pipelines.test_results import describe_projects
from core.repo_config import RepositoryConfig
from core.specs import ChangeSpec, IssueResolutionSpec


class Resolution:
    """What the stages of one resolution share: the test pipeline's checkout, sandbox and projects (composed
    in: the same steps run the baseline and each round's tests), and the issue being resolved."""

    def __init__(self, tests: TestRun | None = None) -> None:
        self.tests = tests or TestRun()
        self.issue: IssueThread | None = None
        self.base_branch = ""
        self.baseline = ""
        self.config = RepositoryConfig()
        self.continues: EarlierStep | None = None  # a follow-up: the step whose branch and PR it adds to
        self.review: ReviewFeedback | None = None  # a follow-up on a review: the comments it addresses
        self.reproducing: ReproducingTools | None = None  # the agent's tools when it reproduces first
        self.label = ""  # where this attempt's test reports are kept, under the task's artifacts ("attempt-2/")

    def another_attempt(self, number: int) -> Resolution:
        """The same task in a sandbox of its own (to be opened), with a host checkout of its own (copied before any
        attempt works: taking a change out writes into the checkout's `.git`, which a sandbox is loaded from); the
        projects and baseline shared."""
        assert self.tests.tree is not None
        twin = Resolution(TestRun(tmp=self.tests.tmp))
        copy = self.tests.tmp / f"tree-attempt-{number}"
        shutil.copytree(self.tests.tree.path, copy, symlinks=True)
        twin.tests.tree = replace(self.tests.tree, path=copy)
        twin.tests.plans, twin.tests.config = self.tests.plans, self.tests.config
        twin.issue, twin.base_branch, twin.baseline = self.issue, self.base_branch, self.baseline
        twin.config = self.config
        twin.label = f"attempt-{number}/"
        return twin


@dataclass(frozen=True)
class Variation:
    """How one of several attempts differs from the others, so they do not all write the same change: the emphasis
    of its opening, and its model where several are configured. (Not the temperature: the Messages API of the
    current models, and the SDK, take none.)"""

    number: int
    of: int
    model: str | None = None
    emphasis: str = ""

    def opening(self) -> str:
        said = f"\n\nThis is attempt {self.number} of {self.of} at this task, each in a sandbox of its own."
        return said + (f" {self.emphasis}" if self.emphasis else "")


def work(
    ctx: StageContext, run: Resolution, client: ModelClient, *, budget: float | None, variation: Variation | None = None
) -> AgentOutcome:
    """One attempt, from the opening message to a checked (and self-reviewed) submission or a reason it has none.
    Its figures, reproduction and self-review go to `ctx.result` whatever happens."""
    settings = ctx.settings
    assert run.tests.box is not None and run.tests.tree is not None and run.issue is not None
    model = ModelSettings.from_settings(settings, budget)
    if variation is not None:
        model = replace(model, model=variation.model or model.model)

    def progress(update: AgentProgress) -> None:
        figures = agent_figures(update.turns, update.usage.as_dict(), update.cost_usd, budget)
        ctx.metrics["agent"] = figures
        limit = f" of ${budget:.2f}" if budget is not None else ""
        ctx.progress(f"agent turn {update.turns}: ${update.cost_usd:.4f}{limit} spent", {"agent": figures})

    tools: Toolbox = SandboxTools(run.tests.box, cancelled=lambda: ctx.cancel.cancelled)
    # Reproduce first (a follow-up builds on work whose problem was shown already).
    if settings.agent_reproduce_first and run.continues is None:
        tools = run.reproducing = ReproducingTools(tools, run.tests.box, cancelled=lambda: ctx.cancel.cancelled)
        run.reproducing.begin()
    agent = Agent(
        client,
        model,
        tools,
        system=system_prompt(settings.bot_name),
        log=lambda line: ctx.log.agent(line),
        cancel=ctx.cancel,
        on_progress=progress,
    )
    try:
        opening = _opening(ctx, run) + (variation.opening() if variation is not None else "")

        def verified(outcome: AgentOutcome) -> AgentOutcome:
            """Each submission checked; failures go back to the agent, in bounded rounds."""
            for rounds in range(1, settings.agent_test_rounds + 1):
                if outcome.status is not AgentStatus.SUBMITTED:
                    return outcome
                passed, summary = verify(ctx, run, rounds)
                if passed:
                    return outcome
                if rounds < settings.agent_test_rounds:
                    outcome = agent.resume(failures_message(rounds, settings.agent_test_rounds, summary))
            detail = f"the tests still fail after {settings.agent_test_rounds} rounds:\n{summary}"
            return AgentOutcome(status=AgentStatus.GAVE_UP, detail=detail)

        outcome = verified(agent.start(opening + (REPRODUCE_FIRST if run.reproducing is not None else "")))
        if outcome.status is AgentStatus.SUBMITTED and settings.agent_self_review:
            title = outcome.submission.title if outcome.submission else ""
            base = run.tests.tree.commit
            again = self_review(ctx, client, run.tests.box, base, agent=agent, title=title, budget=budget,
                                verified=verified, recheck=lambda: verify(ctx, run, 0)[0])  # fmt: skip
            outcome = again or outcome
    except (TaskCancelledError, LeaseLostError):
        raise
    except (DockhandError, sdk_error()) as exc:
        # Not retried: another attempt would start the agent (and its spending) over.
        raise StageFailedError(f"the agent stopped: {type(exc).__name__}: {exc}") from None
    finally:
        if run.reproducing is not None and run.reproducing.reproduction is not None:
            ctx.result["reproduction"] = run.reproducing.reproduction.as_result()
        cost = agent.cost_usd + float((ctx.result.get("self_review") or {}).get("cost_usd") or 0.0)
        ctx.result["agent"] = {
            **agent_figures(agent.turns, agent.usage.as_dict(), cost, budget),
            "turn_usage": [u.as_dict() for u in agent.turn_usage],
        }
        ctx.metrics["agent"] = agent_figures(agent.turns, agent.usage.as_dict(), cost, budget)
    ctx.result["agent"]["status"] = outcome.status.value
    return outcome


def _opening(ctx: StageContext, run: Resolution) -> str:
    """The task as the agent first reads it: the issue (or request, with its conversation and the work so far)."""
    assert run.tests.tree is not None and run.issue is not None
    context = repository_context(run.tests, run.baseline)
    spec = ctx.spec
    assert isinstance(spec, IssueResolutionSpec | ChangeSpec)
    if not isinstance(spec, ChangeSpec):
        return task_message(run.issue, context)
    thread = [(message.author, message.text) for message in spec.thread]
    opening = change_message(run.issue.repository, run.issue.body, run.issue.author, context, thread)
    if run.continues is not None:
        so_far = sandbox_provider(ctx).diff(run.tests.tree, run.base_branch, context=3)
        opening += earlier_work(run.continues, so_far)
    opening += review_message(run.review) if run.review is not None else ""
    opening += ci_message(spec.ci) if spec.ci is not None else ""
    return opening


def verify(ctx: StageContext, run: Resolution, round_number: int) -> tuple[bool, str]:
    """The agent's change checked: its reproduction must pass now, then the project's tests (with the coverage
    of the lines it changed)."""
    if run.reproducing is not None:
        reproduced, why = run.reproducing.check_after()
        ctx.log.system(f"reproduction after the change (round {round_number}): {'passes' if reproduced else 'fails'}")
        if not reproduced:
            return False, why
    if not run.tests.plans:
        return True, "no tests"
    reset_projects(run.tests)
    execute_tests(ctx, run.tests)
    overall = collect_results(ctx, run.tests, changed_by_agent(run.tests), f"{run.label}round-{round_number}")
    summary = describe_projects(run.tests.projects)
    ctx.result["tests"] = {
        "status": overall,
        "round": round_number,
        "projects": [dict(p) for p in run.tests.projects],
    }
    ctx.log.system(f"tests after the agent's change (round {round_number}): {overall}")
    return overall == "passed", summary


def accept(ctx: StageContext, run: Resolution, outcome: AgentOutcome) -> None:
    """A submitted change's pull-request draft into the result; any other outcome ends the attempt."""
    if outcome.status is not AgentStatus.SUBMITTED or outcome.submission is None:
        raise StageFailedError(f"the agent did not produce a change: {outcome.status.value}: {outcome.detail}")
    submitted = outcome.submission
    ctx.result["pull_request_draft"] = {"title": submitted.title, "body": submitted.body}
    if run.review is not None:  # the agent's word on each comment it was given (others are not posted)
        asked = {note.comment_id for note in run.review.notes}
        replies = {str(k): v for k, v in submitted.replies.items() if k in asked}
        ctx.result["pull_request_draft"]["replies"] = replies
