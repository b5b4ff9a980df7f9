"""`dockhand submit …`, `tasks`, `task ID [--follow]`, `cancel ID`: they work whether or not the service runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.context import fail, open_core, print_json, print_table
from core.errors import DockhandError
from core.repo_ref import RepoRef
from core.states import EventKind, LogStream, TaskPriority, TaskStatus, TaskType, TriggerSource

if TYPE_CHECKING:
    from core.models import Task
    from core.service import Core
    from core.specs import TaskSubmission


submit_app = typer.Typer(
    help="Queue a task. It runs as soon as a worker (`dockhand serve`) is free.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
PriorityOpt = Annotated[TaskPriority, typer.Option("--priority", "-p", help="Queue priority.")]
RetriesOpt = Annotated[
    int | None,
    typer.Option(
        "--max-retries", min=0, max=100, help="Retries after a crash or lost worker (default: DOCKHAND_MAX_RETRIES)."
    ),
]


def _submit(submission: TaskSubmission, as_json: bool) -> None:
    from core.views import task_view

    core = open_core()
    try:
        outcome = core.submit(submission)
    except DockhandError as exc:
        fail(str(exc))
    finally:
        core.close()
    if as_json:
        print_json({"created": outcome.created, "already_live": outcome.already_live, "task": task_view(outcome.task)})
        return
    if outcome.already_live:
        typer.echo(f"already on it: task {outcome.task.id} is {outcome.task.status.value}")
        return
    typer.echo(
        f"{'queued' if outcome.created else 'already queued as'} {outcome.task.type.value} task {outcome.task.id}"
    )
    if outcome.created:
        from bot.doctor import service_answers

        running, url = service_answers(core.settings, timeout=1.0)  # the settings open_core loaded
        if not running:
            typer.echo(
                f"note: no dockhand service answers at {url}: the task waits until `dockhand serve` "
                "(or `dockhand worker`) runs",
                err=True,
            )


def _repo(text: str, *, needs_number: bool) -> RepoRef:
    from core.specs import repository_of

    try:
        ref = RepoRef.parse(text)
        repository_of(ref)
    except DockhandError as exc:
        fail(str(exc))
    if needs_number and ref.number is None:
        fail(f"{text}: give the number too, e.g. {ref.full_name}#12")
    return ref


@submit_app.command("custom")
def submit_custom(
    command: Annotated[str, typer.Argument(help="Shell command to run.")],
    repo: Annotated[
        str | None, typer.Option("--repo", help="owner/repo this work belongs to (for per-repo limits).")
    ] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Time limit in seconds.")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="KEY=VALUE for the command; repeatable.")] = None,
    priority: PriorityOpt = TaskPriority.MEDIUM,
    max_retries: RetriesOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a shell command as a task."""
    variables = {}
    for item in env or []:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--env {item!r}: expected KEY=VALUE")
        variables[key] = value
    payload: dict[str, object] = {"command": command, "env": variables}
    if timeout is not None:
        payload["timeout_seconds"] = timeout
    _submit_or_fail(
        TaskType.CUSTOM, payload, repository=repo, priority=priority, max_retries=max_retries, as_json=as_json
    )


ContinuesOpt = Annotated[
    str | None, typer.Option("--continues", help="A task whose pull request this adds to (a follow-up).")
]
AttemptsOpt = Annotated[
    int | None,
    typer.Option(
        "--attempts", min=1, max=10,
        help="Independent agent attempts, at once; the best is offered (default DOCKHAND_AGENT_ATTEMPTS).",
    ),
]  # fmt: skip
BudgetOpt = Annotated[
    float | None,
    typer.Option(
        "--budget", min=0.01, help="Dollars the agent may spend on this task (default DOCKHAND_AGENT_BUDGET_USD)."
    ),
]


@submit_app.command("issue")
def submit_issue(
    ref: Annotated[str, typer.Argument(help="owner/repo#12")],
    budget: BudgetOpt = None,
    attempts: AttemptsOpt = None,
    priority: PriorityOpt = TaskPriority.MEDIUM,
    max_retries: RetriesOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Resolve a GitHub issue with the agent."""
    parsed = _repo(ref, needs_number=True)
    payload: dict[str, object] = {"issue_number": parsed.number}
    if budget is not None:
        payload["budget_usd"] = budget
    if attempts is not None:
        payload["attempts"] = attempts
    _submit_or_fail(
        TaskType.ISSUE_RESOLUTION,
        payload,
        repository=parsed.full_name,
        priority=priority,
        max_retries=max_retries,
        as_json=as_json,
    )


@submit_app.command("do")
def submit_do(
    repository: Annotated[str, typer.Argument(help="owner/repo to change")],
    request: Annotated[str, typer.Argument(help='What to change, in words: "add a --json flag to report".')],
    budget: BudgetOpt = None,
    attempts: AttemptsOpt = None,
    priority: PriorityOpt = TaskPriority.MEDIUM,
    max_retries: RetriesOpt = None,
    as_json: JsonFlag = False,
    continues: ContinuesOpt = None,
) -> None:
    """Make a change described in words (no GitHub issue needed): the agent's PR waits for approval."""
    parsed = _repo(repository, needs_number=False)
    if parsed.number is not None:
        fail(f"{repository} is an issue: `dockhand submit issue {repository}` resolves it")
    payload: dict[str, object] = {"request": request}
    if budget is not None:
        payload["budget_usd"] = budget
    if attempts is not None:
        payload["attempts"] = attempts
    if continues is not None:
        payload["continues"] = continues
    _submit_or_fail(
        TaskType.CHANGE,
        payload,
        repository=parsed.full_name,
        priority=priority,
        max_retries=max_retries,
        as_json=as_json,
    )


@submit_app.command("review")
def submit_review(
    ref: Annotated[str, typer.Argument(help="owner/repo#34 (a pull request)")],
    priority: PriorityOpt = TaskPriority.MEDIUM,
    max_retries: RetriesOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Review a pull request."""
    _submit_numbered(TaskType.PR_REVIEW, "pr_number", ref, priority, max_retries, as_json)


def _submit_numbered(
    task_type: TaskType, field: str, ref: str, priority: TaskPriority, max_retries: int | None, as_json: bool
) -> None:
    parsed = _repo(ref, needs_number=True)
    _submit_or_fail(
        task_type,
        {field: parsed.number},
        repository=parsed.full_name,
        priority=priority,
        max_retries=max_retries,
        as_json=as_json,
    )


@submit_app.command("test")
def submit_test(
    source: Annotated[str, typer.Argument(help="owner/repo, a local path or a git URL")],
    ref: Annotated[str | None, typer.Option("--ref", help="Branch, tag or commit.")] = None,
    priority: PriorityOpt = TaskPriority.MEDIUM,
    max_retries: RetriesOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a repository's tests with coverage."""
    from core.specs import repository_of

    try:
        repository: str | None = repository_of(RepoRef.parse(source))
        payload: dict[str, object] = {"ref": ref}
    except DockhandError:
        repository, payload = None, {"ref": ref, "source": source}
    _submit_or_fail(
        TaskType.TEST_PIPELINE,
        payload,
        repository=repository,
        priority=priority,
        max_retries=max_retries,
        as_json=as_json,
    )


def _submit_or_fail(
    task_type: TaskType,
    payload: dict[str, object],
    *,
    repository: str | None,
    priority: TaskPriority,
    max_retries: int | None,
    as_json: bool,
) -> None:
    from core.specs import TaskSubmission

    try:
        submission = TaskSubmission(
            type=task_type,
            payload=payload,
            repository=repository,
            priority=priority,
            max_retries=max_retries,
            trigger_source=TriggerSource.CLI,
            triggered_by=whoami(),
        )
    except ValueError as exc:
        fail(str(exc))
    _submit(submission, as_json)


def whoami() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def list_tasks(
    status: Annotated[list[TaskStatus] | None, typer.Option("--status", "-s", help="Only these statuses.")] = None,
    task_type: Annotated[list[TaskType] | None, typer.Option("--type", "-t", help="Only these types.")] = None,
    repo: Annotated[str | None, typer.Option("--repo", help="Only this owner/repo.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List tasks, newest first."""
    from core.store.queue_types import TaskFilter
    from core.views import task_view

    core = open_core()
    tasks = core.tasks(TaskFilter(statuses=status or (), types=task_type or (), repository=repo, limit=limit))
    core.close()
    if as_json:
        print_json({"tasks": [task_view(t) for t in tasks]})
        return
    if not tasks:
        typer.echo("no tasks")
        return
    print_table(
        ("ID", "TYPE", "STATUS", "PRIORITY", "REPOSITORY", "CREATED"),
        (
            (
                t.id,
                t.type.value,
                t.status.value,
                t.priority.value,
                t.repository or "-",
                f"{t.created_at:%Y-%m-%d %H:%M:%S}",
            )
            for t in tasks
        ),
    )


def show_task(
    task_id: Annotated[str, typer.Argument(help="Task ID.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream logs and stages until the task ends.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show a task: status, stages, result; with --follow, stream its log until it ends."""
    from core.views import detail_view

    core = open_core()
    try:
        if follow:
            raise typer.Exit(_follow(core, task_id))
        detail = core.task_detail(task_id)
    except DockhandError as exc:
        fail(str(exc))
    finally:
        core.close()
    if as_json:
        print_json(detail_view(detail))
        return
    t = detail.task
    typer.echo(
        f"task {t.id}  {t.type.value}  {t.status.value}  priority={t.priority.value}"
        f"  attempt={t.attempt} retries={t.retry_count}/{t.max_retries}"
    )
    if t.repository:
        typer.echo(f"repository: {t.repository}")
    typer.echo(f"triggered by {t.trigger_source.value}:{t.triggered_by or '-'} at {t.created_at:%Y-%m-%d %H:%M:%S}")
    if t.waits_for and t.status is TaskStatus.PENDING:
        typer.echo(f"waits for task {t.waits_for} to end (it continues that task's work)")
    for stage in detail.stages:
        took = f" ({stage.duration_seconds:.2f}s)" if stage.duration_seconds is not None else ""
        typer.echo(f"  [{stage.status.value:^9}] {stage.name}{took}{': ' + stage.error if stage.error else ''}")
    if t.error:
        typer.echo(f"error: {t.error}")
    if t.result:
        _print_result(core, t)


def _print_result(core: Core, task: Task) -> None:
    """The result as the TUI shows it (tests, change, agent, PR, review), then its other plain fields."""
    from rich.console import Console

    from tui.format import result_text, shown

    seen = shown(core, task).model_copy(update={"error": None})  # redacted; the error is printed already
    text = result_text(seen)
    if text.plain.strip():
        Console(highlight=False, soft_wrap=True).print(text, end="")
    for key, value in (seen.result or {}).items():
        if isinstance(value, str | int | float | bool) and not key.startswith("_"):
            typer.echo(f"{key}: {value}")
    typer.echo(f"(all of it: dockhand task {task.id} --json)")


def _follow(core: Core, task_id: str) -> int:
    from core.store.logs import LogLine

    for item in core.follow(task_id, done=lambda: core.task(task_id).status.is_final):
        if isinstance(item, LogLine):
            if item.stream is LogStream.SYSTEM:
                typer.secho(item.line, dim=True)
            else:
                typer.echo(item.line, err=item.stream is LogStream.STDERR)
        else:
            typer.secho(f"» {item.message}", fg=typer.colors.CYAN)
            if item.kind is EventKind.APPROVAL_REQUESTED:
                typer.echo(str(item.data.get("summary", "")))
                typer.echo(f"approve with `dockhand approve {task_id}`, or `dockhand reject {task_id}`")
    task = core.task(task_id)
    typer.secho(
        f"task {task_id} {task.status.value}" + (f": {task.error}" if task.error else ""),
        fg=typer.colors.GREEN if task.status is TaskStatus.SUCCEEDED else typer.colors.RED,
    )
    return 0 if task.status is TaskStatus.SUCCEEDED else 1


def approve_task(
    task_id: Annotated[str, typer.Argument(help="Task ID.")],
    attempt: Annotated[
        int | None,
        typer.Option("--attempt", min=1, help="Publish this one of the task's attempts instead of the one offered."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve a task waiting for approval (e.g. push the branch and open the PR); a worker then goes on."""
    _decide(task_id, approve=True, reason="", as_json=as_json, attempt=attempt)


def reject_task(
    task_id: Annotated[str, typer.Argument(help="Task ID.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded with the task).")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Reject a task waiting for approval: nothing is published and the task ends cancelled."""
    _decide(task_id, approve=False, reason=reason, as_json=as_json)


def _decide(task_id: str, *, approve: bool, reason: str, as_json: bool, attempt: int | None = None) -> None:
    from core.views import task_view

    core = open_core()
    try:
        if approve:
            core.approve(task_id, by=whoami(), source=TriggerSource.CLI, attempt=attempt)
        else:
            core.reject(task_id, by=whoami(), reason=reason, source=TriggerSource.CLI)
        task = core.task(task_id)
    except DockhandError as exc:
        fail(str(exc))
    finally:
        core.close()
    if as_json:
        print_json(task_view(task))
    elif approve:
        which = f" (attempt {attempt})" if attempt is not None else ""
        typer.echo(f"task {task_id} approved{which}: a worker (dockhand serve or worker) publishes it now")
    else:
        typer.echo(f"task {task_id} rejected")


def cancel_task(
    task_id: Annotated[str, typer.Argument(help="Task ID.")],
    as_json: JsonFlag = False,
) -> None:
    """Cancel a pending task, or stop a running one."""
    from core.views import task_view

    core = open_core()
    try:
        task = core.cancel(task_id, by=whoami(), source=TriggerSource.CLI)
    except DockhandError as exc:
        fail(str(exc))
    finally:
        core.close()
    if as_json:
        print_json(task_view(task))
    elif task.status is TaskStatus.CANCELLED:
        typer.echo(f"task {task_id} cancelled")
    else:
        typer.echo(f"task {task_id} is stopping (its worker stops it within a few seconds)")
