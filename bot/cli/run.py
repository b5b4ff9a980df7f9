"""`dockhand run test`: run the test pipeline here and now, show its progress, print its result."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.context import fail, load_settings, open_core
from bot.cli.tasks import AttemptsOpt, ContinuesOpt, whoami
from core.errors import DockhandError, InvalidTransitionError
from core.repo_ref import RepoRef
from core.states import EventKind, LogStream, TaskStatus, TaskType, TriggerSource

if TYPE_CHECKING:
    from core.models import Task
    from core.results import TestPipelineResult
    from core.service import Core


run_app = typer.Typer(help="Run a pipeline here and now, and wait for its result.", no_args_is_help=True)


@run_app.command("test")
def run_test(
    source: Annotated[str, typer.Argument(help="A local directory, a git URL, or owner/repo.")],
    ref: Annotated[str | None, typer.Option("--ref", help="Branch, tag, commit or pull/N/head.")] = None,
    base: Annotated[str | None, typer.Option("--base", help="Ref to measure diff coverage against.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Run even if this commit was tested already.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON (progress goes to stderr).")
    ] = False,
) -> None:
    """Detect, install, run and report a repository's tests with coverage, in a sandbox."""
    from core.specs import TaskSubmission

    payload: dict[str, Any] = {"ref": ref, "base": base, "force": force}
    repository = None
    if Path(source).exists():
        payload["source"] = str(Path(source).resolve())
    elif "://" in source or source.endswith(".git"):
        payload["source"] = source
    else:
        try:
            repository = RepoRef.parse(source).full_name
        except DockhandError as exc:
            fail(f"{source}: not a directory, a git URL or owner/repo ({exc})")
    settings = load_settings()
    # Docker is made ready when the run needs a sandbox: a commit tested already needs none (its result is reused).
    core = open_core(settings, sandboxes=True, on_demand=True)
    try:
        submission = TaskSubmission(
            type=TaskType.TEST_PIPELINE,
            payload=payload,
            repository=repository,
            trigger_source=TriggerSource.CLI,
            triggered_by=whoami(),
            max_retries=0,
        )
        task_id = core.submit(submission).task.id
    except (DockhandError, ValueError) as exc:
        fail(str(exc))
    task = _run_here(core, task_id, err=as_json)
    from core.results import TestPipelineResult, result_of

    result = result_of(task)
    assert isinstance(result, TestPipelineResult)
    summary = _summary(task_id, task.status, result, task.error)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)
    raise typer.Exit({"passed": 0, "failed": 1}.get(summary["status"], 2))


@run_app.command("review")
def run_review(
    ref: Annotated[str, typer.Argument(help="owner/repo#34: the pull request to review.")],
    budget: Annotated[
        float | None, typer.Option("--budget", min=0.01, help="Dollars the review may spend (default from settings).")
    ] = None,
) -> None:
    """Review a pull request here and now; the review is posted on GitHub with its line comments."""
    repository, number = _numbered_ref(ref, "pull request")
    payload: dict[str, Any] = {"pr_number": number}
    if budget is not None:
        payload["budget_usd"] = budget
    core = open_core(load_settings(), sandboxes=True, require_docker=True)
    task_id = _submit_here(core, TaskType.PR_REVIEW, repository, f"{repository}#{number}", payload)
    task = _run_here(core, task_id, err=False)
    from core.results import AgentFigures, PRReviewResult, ReviewPosted, result_of

    result = result_of(task)
    if task.status is TaskStatus.SUCCEEDED:
        review = (result.review if isinstance(result, PRReviewResult) else None) or ReviewPosted()
        agent = result.agent or AgentFigures()
        typer.secho(
            f"posted a review on {repository}#{number}: {review.comments} line comments, "
            f"{review.in_body} more in its body; ${agent.cost_usd:.4f}",
            fg=typer.colors.GREEN,
            bold=True,
        )
        raise typer.Exit(0)
    typer.secho(f"task {task_id} {task.status.value}: {task.error or ''}", fg=typer.colors.RED, bold=True)
    raise typer.Exit(1)


def _numbered_ref(ref: str, what: str) -> tuple[str, int]:
    from core.specs import repository_of

    try:
        parsed = RepoRef.parse(ref)
        repository = repository_of(parsed)
    except DockhandError as exc:
        fail(str(exc))
    if parsed.number is None:
        fail(f"{ref}: give the {what} number too, e.g. {repository}#12")
    return repository, parsed.number


def _submit_here(core: Core, task_type: TaskType, repository: str, ref: str, payload: dict[str, Any]) -> str:
    from core.specs import TaskSubmission

    try:
        return core.submit(
            TaskSubmission(
                type=task_type,
                payload=payload,
                repository=repository,
                trigger_source=TriggerSource.CLI,
                triggered_by=whoami(),
                trigger_ref=ref,
                max_retries=0,
            )
        ).task.id
    except (DockhandError, ValueError) as exc:
        fail(str(exc))


@run_app.command("resolve")
def run_resolve(
    ref: Annotated[str, typer.Argument(help="owner/repo#12: the GitHub issue to resolve.")],
    budget: Annotated[
        float | None, typer.Option("--budget", min=0.01, help="Dollars the agent may spend (default from settings).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Publish without asking once the tests pass.")] = False,
    attempts: AttemptsOpt = None,
) -> None:
    """Resolve an issue here and now: the agent works in a sandbox, you approve, the PR is opened."""
    repository, number = _numbered_ref(ref, "issue")
    payload: dict[str, Any] = {"issue_number": number}
    if budget is not None:
        payload["budget_usd"] = budget
    if attempts is not None:
        payload["attempts"] = attempts
    core = open_core(load_settings(), sandboxes=True, require_docker=True)
    task_id = _submit_here(core, TaskType.ISSUE_RESOLUTION, repository, f"{repository}#{number}", payload)
    _change_here(core, task_id, yes=yes)


@run_app.command("do")
def run_do(
    repository: Annotated[str, typer.Argument(help="owner/repo to change.")],
    request: Annotated[str, typer.Argument(help='What to change, in words: "add a --json flag to report".')],
    budget: Annotated[
        float | None, typer.Option("--budget", min=0.01, help="Dollars the agent may spend (default from settings).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Publish without asking once the tests pass.")] = False,
    attempts: AttemptsOpt = None,
    continues: ContinuesOpt = None,
) -> None:
    """Make a change described in words, here and now: the agent works in a sandbox, you approve, the PR is opened."""
    from core.specs import repository_of

    try:
        full_name = repository_of(RepoRef.parse(repository))
    except DockhandError as exc:
        fail(str(exc))
    payload: dict[str, Any] = {"request": request}
    if budget is not None:
        payload["budget_usd"] = budget
    if attempts is not None:
        payload["attempts"] = attempts
    if continues is not None:
        payload["continues"] = continues
    core = open_core(load_settings(), sandboxes=True, require_docker=True)
    task_id = _submit_here(core, TaskType.CHANGE, full_name, full_name, payload)
    _change_here(core, task_id, yes=yes)


def _change_here(core: Core, task_id: str, *, yes: bool) -> None:
    """Run a change task here; ask before publishing (unless --yes); say where its PR is."""
    task = _run_here(core, task_id, err=False)
    if task.status is TaskStatus.AWAITING_APPROVAL:
        approval = next((a for a in core.approvals.of(task_id) if a.status.value == "pending"), None)
        typer.echo("")
        typer.echo(approval.summary if approval else "")
        if yes or (sys.stdin.isatty() and typer.confirm("Push the branch and open the pull request?")):
            core.approve(task_id, by=whoami(), source=TriggerSource.CLI)
            task = _run_here(core, task_id, err=False)
        else:
            typer.echo(f"waiting for approval: `dockhand approve {task_id}` or `dockhand reject {task_id}`")
            raise typer.Exit(0)
    from core.results import result_of

    result = result_of(task)
    if result.agent:
        typer.echo(f"agent: {result.agent.turns} turns, ${result.agent.cost_usd:.4f}")
    pull = result.pull_request
    if task.status is TaskStatus.SUCCEEDED and pull:
        typer.secho(f"opened {pull.pull_url} from {pull.branch}", fg=typer.colors.GREEN, bold=True)
        raise typer.Exit(0)
    typer.secho(f"task {task_id} {task.status.value}: {task.error or ''}", fg=typer.colors.RED, bold=True)
    raise typer.Exit(1)


def _run_here(core: Core, task_id: str, *, err: bool) -> Task:
    """Run a pending task in this process (following its progress), or follow it where it runs."""
    progress = _Progress(core, task_id, err=err)
    progress.start()
    try:
        return core.run_now(task_id)
    except InvalidTransitionError:
        # A running `dockhand serve` on the same store took it first: follow it there instead.
        return _wait_for(core, task_id)
    except DockhandError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        core.cancel(task_id, by="ctrl-c", source=TriggerSource.CLI)
        raise typer.Exit(130) from None
    finally:
        progress.stop()


def _wait_for(core: Core, task_id: str) -> Task:
    while not (task := core.task(task_id)).status.is_final and task.status is not TaskStatus.AWAITING_APPROVAL:
        time.sleep(0.5)
    return task


class _Progress(threading.Thread):
    """Stage transitions and the tools' output, as they happen."""

    def __init__(self, core: Core, task_id: str, *, err: bool) -> None:
        super().__init__(daemon=True)
        self.core, self.task_id, self.err = core, task_id, err
        self._done = threading.Event()

    def run(self) -> None:
        from core.store.logs import LogLine

        for item in self.core.follow(self.task_id, done=self._done.is_set, wait=self._done.wait):
            if isinstance(item, LogLine):
                text = item.line if item.stream is not LogStream.SYSTEM else f"  · {item.line}"
                typer.secho(text, dim=item.stream is not LogStream.SYSTEM, err=self.err)
            elif item.kind is EventKind.STAGE_STARTED:
                typer.secho(f"▶ {item.stage}", fg=typer.colors.CYAN, bold=True, err=self.err)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


def _summary(task_id: str, status: TaskStatus, result: TestPipelineResult, error: str | None) -> dict[str, Any]:
    projects = []
    for p in result.projects:
        totals, diff = p.totals, p.diff_coverage or {}
        projects.append({
            "language": p.language, "root": p.root, "framework": p.framework, "status": p.status,
            "passed": totals.passed, "failed": totals.failed, "skipped": totals.skipped, "errors": totals.errors,
            "coverage_percent": p.coverage_percent,
            "test_source": p.test_source, "results_from": p.results_from,
            "diff_coverage_percent": diff.get("percent") if diff else None,
            "duration_seconds": p.duration_seconds, "error": p.error,
        })  # fmt: skip
    overall = result.status or ("passed" if status is TaskStatus.SUCCEEDED else "error")
    return {
        "status": overall,
        "task_id": task_id,
        "commit": result.commit,
        "source": result.source,
        "reused_from": result.reused_from,
        "error": None if overall == "passed" else error,
        "projects": projects,
        "timings": result.timings or None,
    }


def _print_summary(summary: dict[str, Any]) -> None:
    typer.echo("")
    if summary.get("commit"):
        typer.echo(
            f"{summary['source']} at {summary['commit'][:12]}"
            + (f" (result of task {summary['reused_from']})" if summary.get("reused_from") else "")
        )
    for p in summary["projects"]:
        cov = f"{p['coverage_percent']:.1f}%" if p["coverage_percent"] is not None else "n/a"
        diff = f", diff coverage {p['diff_coverage_percent']:.1f}%" if p["diff_coverage_percent"] is not None else ""
        took = f" in {p['duration_seconds']:.1f}s" if p["duration_seconds"] is not None else ""
        color = typer.colors.GREEN if p["status"] == "passed" else typer.colors.RED
        typer.secho(
            f"{p['language']:<11}{p['root']:<16}{p['framework']:<10} {p['passed']} passed, {p['failed']} failed, "
            f"{p['skipped']} skipped, {p['errors']} errors; coverage {cov}{diff}{took}: {p['status']}",
            fg=color,
        )
        if p.get("error"):
            typer.echo(f"    {p['error']}")
    if timings := summary.get("timings"):
        from core.pipelines.test_results import describe_timings

        typer.echo(describe_timings(timings))
    color = typer.colors.GREEN if summary["status"] == "passed" else typer.colors.RED
    typer.secho(
        f"result: {summary['status']}" + (f" — {summary['error']}" if summary.get("error") else ""), fg=color, bold=True
    )
