"""Several independent attempts at one change, at once, and the best of them offered.

Attempt 1 works in the resolution's own sandbox; each further one opens a sandbox of its own from the same checkout
(dependencies from the cache), so no attempt sees another's edits. They run concurrently (at most `workers` at
once), each with an equal share of the budget, varied by the emphasis of its opening and (where configured) the
model. Every attempt whose change passes its checks has it taken out as a bundle under
`artifacts/<task>/attempt-N/`; dockhand picks one by evidence (`core.attempt_choice`) and a person may publish
another instead (`adopt`). Cancelling the task stops every attempt; every further sandbox is removed here."""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from core.agent.loop import AgentOutcome, AgentStatus
from core.artifacts import BUNDLE_NAME, DIFF_NAME, change_name
from core.attempt_choice import pick
from core.errors import DockhandError, LeaseLostError, StageFailedError, TaskCancelledError
from core.model_provider import ClientFactory
from core.pipeline import StageContext, artifact_store
from core.pipelines import test_pipeline
from core.pipelines.change_stats import agent_figures
from core.pipelines.change_taking import take_change
from core.pipelines.install_leftovers import exclude_leftovers
from core.pipelines.resolution_agent import Resolution, Variation, accept, work
from core.pipelines.test_pipeline import open_sandbox, sandbox_provider
from core.results import AttemptReport, IssueResolutionResult
from core.settings import Settings
from core.specs import ChangeSpec, IssueResolutionSpec
from core.states import LogStream
from core.store.logs import LogSink

log = logging.getLogger(__name__)

EMPHASES = (
    "",
    "Prefer the smallest change that fixes the problem, and touch nothing else.",
    "Find the root cause before changing anything, and fix it there rather than around it.",
    "Think through the edge cases the issue implies, and cover them with tests.",
)
# What an attempt's result holds that the offered change is made of (its cost stays its own: the task's is the sum).
ADOPTED = ("tests", "reproduction", "self_review", "pull_request_draft", "change")


def attempts_asked(ctx: StageContext, run: Resolution) -> int:
    """How many attempts this task runs: its own ask, else its repository's, else dockhand's, up to the cap. A
    follow-up runs one: it adds to a branch that already holds the conversation's change."""
    if run.continues is not None:
        return 1
    spec = ctx.spec
    assert isinstance(spec, IssueResolutionSpec | ChangeSpec)
    asked = spec.attempts or run.config.attempts or ctx.settings.agent_attempts
    if asked > ctx.settings.agent_attempts_max:
        cap = ctx.settings.agent_attempts_max
        ctx.log.system(f"{asked} attempts asked; at most {cap} run (DOCKHAND_AGENT_ATTEMPTS_MAX)")
    return min(asked, ctx.settings.agent_attempts_max)


def variation(number: int, of: int, settings: Settings) -> Variation:
    models = settings.agent_attempt_models
    return Variation(
        number=number,
        of=of,
        model=models[(number - 2) % len(models)] if number > 1 and models else None,
        emphasis=EMPHASES[(number - 1) % len(EMPHASES)],
    )


class AttemptLog(LogSink):
    """The task's log, each line marked with the attempt that wrote it."""

    def __init__(self, inner: LogSink, number: int) -> None:  # no buffer of its own: every line goes to `inner`
        self.inner = inner
        self.task_id = inner.task_id
        self.prefix = f"[attempt {number}] "

    def write(self, line: str, stream: LogStream = LogStream.STDOUT) -> None:
        self.inner.write(self.prefix + line, stream)

    def flush(self) -> None:
        self.inner.flush()


@dataclass
class Attempt:
    number: int
    run: Resolution
    ctx: StageContext  # its own result, metrics and marked log; the task's cancel token
    outcome: AgentOutcome | None = None
    failure: str = ""


class Spending:
    """The running figures of all attempts together, published as the task's."""

    def __init__(self, ctx: StageContext, budget: float | None) -> None:
        self.ctx, self.budget = ctx, budget
        self.by_attempt: dict[int, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def progress(self, number: int, message: str, data: dict[str, Any]) -> None:
        with self.lock:  # published in order: the running total never seems to go back
            if "agent" in data:
                self.by_attempt[number] = data["agent"]
            self.ctx.progress(f"attempt {number}: {message}", {**data, "agent": self.total()})

    def total(self) -> dict[str, Any]:
        usage: dict[str, int] = {}
        for figures in self.by_attempt.values():
            for key, value in (figures.get("usage") or {}).items():
                usage[key] = usage.get(key, 0) + int(value)
        turns = sum(int(f.get("turns") or 0) for f in self.by_attempt.values())
        cost = sum(float(f.get("cost_usd") or 0) for f in self.by_attempt.values())
        return agent_figures(turns, usage, cost, self.budget)


def run_attempts(ctx: StageContext, run: Resolution, client_factory: ClientFactory, count: int) -> None:
    """Run `count` attempts at once, take each checked change out, and offer the best (`ctx.result`: the picked
    attempt's change and evidence, `attempts`, `picked`, the summed `agent` figures)."""
    budget = _spec(ctx).budget_usd or ctx.settings.agent_budget_usd
    share = budget / count if budget is not None else None
    spending = Spending(ctx, budget)
    artifact_store(ctx).delete(ctx.task.id, prefix="attempt-")  # what an earlier run (that crashed) left
    attempts = []
    for number in range(1, count + 1):
        try:
            own = run if number == 1 else run.another_attempt(number)
        except OSError as exc:
            raise StageFailedError(f"could not copy the checkout for attempt {number}: {exc}") from None
        if number == 1:
            own.label = "attempt-1/"
        progress = lambda message, data, n=number: spending.progress(n, message, data)  # noqa: E731
        actx = replace(ctx, result={}, metrics={}, log=AttemptLog(ctx.log, number), run=own, progress=progress)
        attempts.append(Attempt(number=number, run=own, ctx=actx))
    ctx.log.system(f"{count} attempts, each with ${share:.2f} of the budget" if share else f"{count} attempts")
    try:
        with ThreadPoolExecutor(max_workers=min(count, ctx.settings.workers), thread_name_prefix="attempt") as pool:
            running = [pool.submit(_attempt, a, client_factory, share, count) for a in attempts]
            errors = [f.exception() for f in running]
        ctx.cancel.raise_if_cancelled()
        for error in errors:
            if error is not None:  # a lost lease, or what no attempt expects: the task's own handling decides
                raise error
        reports = [_report(a, ctx.result.get("baseline")) for a in attempts]
        for a, report in zip(attempts, reports, strict=True):
            spending.by_attempt[a.number] = a.ctx.result.get("agent") or {}
            ctx.log.system(f"attempt {a.number}: {report.status}" + (f": {report.detail}" if report.detail else ""))
        ctx.result["attempts"] = [r.model_dump(mode="json") for r in reports]
        best, reason = pick(reports)
        if best is None:
            raise StageFailedError(f"none of the {count} attempts produced a change whose checks pass")
        ctx.result["picked"] = {"attempt": best.number, "reason": reason}
        adopt(ctx, best.number)
        ctx.log.system(f"picked {reason}")
    finally:
        ctx.result["agent"] = {**spending.total(), "status": "submitted" if "picked" in ctx.result else "gave-up"}
        ctx.metrics["agent"] = spending.total()
        for a in attempts[1:]:
            _remove_sandbox(ctx, a)


def adopt(ctx: StageContext, number: int, *, by: str | None = None) -> None:
    """Make attempt `number`'s change the task's: its evidence in the result, its bundle and diff where the
    approval and the publish stage read them. `by`: the person who picked it instead of dockhand's pick."""
    result = IssueResolutionResult.model_validate(ctx.result)
    chosen = next((a for a in result.attempts if a.number == number), None)
    if chosen is None or not chosen.ready:
        raise StageFailedError(f"attempt {number} has no change to publish")
    for key in ADOPTED:
        ctx.result.pop(key, None)
        if key in chosen.result:
            ctx.result[key] = chosen.result[key]
    store = artifact_store(ctx)
    bundle, diff = (store.get(ctx.task.id, change_name(name, number)) for name in (BUNDLE_NAME, DIFF_NAME))
    if bundle is None or diff is None:
        raise StageFailedError(f"attempt {number}'s change is no longer stored (it was removed)")
    if hashlib.sha256(bundle).hexdigest() != (chosen.result.get("change") or {}).get("bundle_sha256"):
        raise StageFailedError(f"attempt {number}'s stored change is not the one it made; nothing was published")
    store.put(ctx.task.id, BUNDLE_NAME, bundle)
    store.put(ctx.task.id, DIFF_NAME, diff)
    if by is not None:
        picked = ctx.result.get("picked") or {}
        instead = f"picked by hand instead of attempt {picked.get('attempt')}"
        ctx.result["picked"] = {"attempt": number, "reason": instead, "by": by}


def _attempt(attempt: Attempt, client_factory: ClientFactory, share: float | None, count: int) -> None:
    """One attempt, start to taken change; what ends it as a failed attempt is kept, not raised."""
    ctx, run = attempt.ctx, attempt.run
    try:
        ctx.cancel.raise_if_cancelled()  # one that waited for a free thread starts nothing after a cancel
        if attempt.number > 1:
            _prepare(ctx, run, attempt.number)
        client = client_factory(ctx.settings)
        try:
            varied = variation(attempt.number, count, ctx.settings)
            attempt.outcome = work(ctx, run, client, budget=share, variation=varied)
        finally:
            client.close()
        accept(ctx, run, attempt.outcome)
        ctx.result["change"] = take_change(ctx, run.tests, ctx.result["pull_request_draft"], attempt.number)
    except (TaskCancelledError, LeaseLostError):
        raise
    except StageFailedError as exc:
        attempt.failure = str(exc)
    except Exception as exc:  # whatever else ends this attempt ends only this one; the others go on
        log.exception("task %s: attempt %d failed", ctx.task.id, attempt.number)
        attempt.failure = f"{type(exc).__name__}: {exc}"
    finally:
        ctx.log.flush()


def _prepare(ctx: StageContext, run: Resolution, number: int) -> None:
    """A sandbox of the attempt's own, with the checkout and the projects' dependencies (from the cache)."""
    open_sandbox(ctx, run.tests, f"resolve-{number}")
    test_pipeline.install(ctx)
    broken = [p for p in run.tests.projects if p["status"] == "install-failed"]
    if broken:
        errors = "; ".join(p.get("error", "") for p in broken)
        raise StageFailedError(f"its sandbox's dependencies did not install: {errors}")
    assert run.tests.box is not None
    exclude_leftovers(run.tests.box)


def _report(attempt: Attempt, baseline: dict[str, Any] | None) -> AttemptReport:
    result = IssueResolutionResult.model_validate(attempt.ctx.result)
    ready = result.change is not None
    outcome = attempt.outcome
    if ready:
        status, detail = "ready", ""
    elif outcome is not None and outcome.status is not AgentStatus.SUBMITTED:  # out of rounds, budget, turns…
        status, detail = "gave-up", f"{outcome.status.value}: {outcome.detail}"
    else:
        status, detail = "failed", attempt.failure or "no outcome"
    reproduction = result.reproduction
    reproduced = reproduction.passes_after if reproduction is not None and reproduction.status == "reproduced" else None
    projects = result.test_projects
    failing = sum(p.totals.failed + p.totals.errors for p in projects)
    before = sum(
        int((p.get("totals") or {}).get("failed") or 0) + int((p.get("totals") or {}).get("errors") or 0)
        for p in (baseline or {}).get("projects") or []
    )
    covered = [p.diff_coverage for p in projects if p.diff_coverage]
    total = sum(int(c.get("total") or 0) for c in covered)
    ran = sum(int(c.get("covered") or 0) for c in covered)
    return AttemptReport(
        number=attempt.number,
        status=status,
        detail=" ".join(detail.split())[:300],
        reproduced=reproduced,
        tests=result.tests.status if result.tests is not None else "not run",
        new_failures=max(failing - before, 0),
        diff_coverage=100 * ran / total if total else None,
        insertions=result.change.insertions if result.change else 0,
        deletions=result.change.deletions if result.change else 0,
        findings=len(result.self_review.remaining) if result.self_review else 0,
        cost_usd=result.agent.cost_usd if result.agent else 0.0,
        result=attempt.ctx.result,
    )


def _remove_sandbox(ctx: StageContext, attempt: Attempt) -> None:
    box = attempt.run.tests.box
    if box is None:
        return
    try:
        sandbox_provider(ctx).destroy(box.sandbox_id)
    except DockhandError as exc:
        ctx.log.system(f"could not remove sandbox {box.sandbox_id}: {exc}")


def _spec(ctx: StageContext) -> IssueResolutionSpec | ChangeSpec:
    assert isinstance(ctx.spec, IssueResolutionSpec | ChangeSpec)
    return ctx.spec
