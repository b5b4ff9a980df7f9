"""Operators' commands: sandboxes, caches, schedules, the database and the configuration."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.context import fail, load_settings, open_core, print_json, print_table
from core.errors import DockhandError
from core.states import TaskPriority

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

sandbox_app = typer.Typer(help="Inspect and remove dockhand's sandboxes.", no_args_is_help=True)
cache_app = typer.Typer(help="Dependency caches.", no_args_is_help=True)
schedule_app = typer.Typer(help="Pipelines that run on a cron schedule (UTC).", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)


@sandbox_app.command("list")
def sandbox_list(as_json: JsonFlag = False) -> None:
    """List sandboxes: ID, container, image, state and age."""
    from core.models import utcnow
    from core.views import sandbox_view

    sandboxes = open_core(sandboxes=True, require_docker=True).list_sandboxes()
    if as_json:
        print_json({"sandboxes": [sandbox_view(s) for s in sandboxes]})
        return
    if not sandboxes:
        typer.echo("no sandboxes")
        return
    now = utcnow()
    print_table(
        ("ID", "CONTAINER", "IMAGE", "STATE", "AGE"),
        (
            (
                s.id,
                (s.container_id or "-")[:12],
                s.image,
                s.state.value,
                f"{int((now - s.created_at).total_seconds())}s",
            )
            for s in sandboxes
        ),
    )


@sandbox_app.command("destroy")
def sandbox_destroy(sandbox_id: Annotated[str, typer.Argument(help="Sandbox ID.")]) -> None:
    """Destroy a sandbox, its container and its workspace."""
    core = open_core(sandboxes=True, require_docker=True)
    try:
        core.destroy_sandbox(sandbox_id)
    except DockhandError as exc:
        fail(str(exc))
    typer.echo(f"destroyed {sandbox_id}")


@sandbox_app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sandbox_exec(
    sandbox_id: Annotated[str, typer.Argument(help="Sandbox ID (created, locked down, if missing).")],
    command: Annotated[list[str], typer.Argument(help="Command and arguments, after --.")],
    network: Annotated[bool, typer.Option("--network/--no-network", help="Network for this command.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Time limit in seconds.")] = 600.0,
    workdir: Annotated[str, typer.Option("--workdir", "-w")] = "/workspace",
) -> None:
    """Run a command in a sandbox, stream its output, exit with its exit code."""
    import shlex

    from core.sandboxing import ExecRequest
    from core.states import LogStream

    core = open_core(sandboxes=True, require_docker=True)
    assert core.sandboxes is not None
    try:
        box = core.sandboxes.get_or_create(sandbox_id, core.sandboxes.default_policy().with_overrides(network=network))
        result = box.exec(
            ExecRequest(command=shlex.join(command), workdir=workdir, timeout_seconds=timeout),
            output=lambda line, stream: typer.echo(line, err=stream is not LogStream.STDOUT),
        )
    except DockhandError as exc:
        fail(str(exc))
    if not result.ok and (result.timed_out or result.oom_killed):
        typer.secho(f"dockhand: command {result.describe()}", fg=typer.colors.RED, err=True)
    raise typer.Exit(result.exit_code if not result.timed_out else 124)


@cache_app.command("clear")
def cache_clear(as_json: JsonFlag = False) -> None:
    """Empty every dependency cache, and (where Docker answers) the snapshots and the warm pool."""
    cleared = open_core(sandboxes=True).clear_caches()
    if as_json:
        print_json({"cleared": cleared})
    else:
        typer.echo(", ".join(f"{name}: {n} entries removed" for name, n in cleared.items()) or "no caches to clear")


@schedule_app.command("add")
def schedule_add(
    name: Annotated[str, typer.Argument(help="A unique name.")],
    cron: Annotated[str, typer.Argument(help="Crontab expression, e.g. '0 3 * * *' (UTC).")],
    command: Annotated[str, typer.Option("--command", help="Shell command of a custom task.")],
    repo: Annotated[str | None, typer.Option("--repo", help="owner/repo")] = None,
    priority: Annotated[TaskPriority, typer.Option("--priority", "-p")] = TaskPriority.LOW,
) -> None:
    """Run a custom command on a schedule."""
    from core.specs import TaskSubmission

    core = open_core()
    try:
        submission = TaskSubmission.from_json(
            {"type": "custom", "payload": {"command": command}, "repository": repo, "priority": priority}
        )
        core.registry.get(submission.type)
        core.schedules.add(name, cron, submission)
    except DockhandError as exc:
        fail(str(exc))
    typer.echo(f"schedule {name!r} added: {cron}")


@schedule_app.command("list")
def schedule_list(as_json: JsonFlag = False) -> None:
    """List schedules."""
    from core.views import schedule_view

    schedules = open_core().schedules.list()
    if as_json:
        print_json({"schedules": [schedule_view(s) for s in schedules]})
        return
    if not schedules:
        typer.echo("no schedules")
        return
    print_table(
        ("NAME", "CRON", "TYPE", "REPOSITORY", "ENABLED"),
        ((s.name, s.cron, s.type.value, s.repository or "-", "on" if s.enabled else "off") for s in schedules),
    )


@schedule_app.command("remove")
def schedule_remove(name: Annotated[str, typer.Argument()]) -> None:
    """Remove a schedule."""
    try:
        open_core().schedules.remove(name)
    except DockhandError as exc:
        fail(str(exc))
    typer.echo(f"schedule {name!r} removed")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (serve and every command also do this on start)."""
    core = open_core()
    from core.migrate import head_revision  # alembic: only for this command

    typer.echo(f"database at revision {core.store.lifecycle.revision()} (newest: {head_revision()})")


def config(as_json: JsonFlag = False) -> None:
    """Check the configuration and show what is set (secrets never shown)."""
    from core.api_token import token_path

    settings = load_settings()
    data = {
        "data_dir": str(settings.data_dir),
        "database": settings.effective_database_url.split("@")[-1],
        "listen": f"{settings.host}:{settings.port}",
        "workers": settings.workers,
        "per_repo_limit": settings.per_repo_limit,
        "lease_seconds": settings.lease_seconds,
        "max_retries": settings.max_retries,
        "api_token": "DOCKHAND_API_TOKEN" if settings.api_token else f"file {token_path(settings)}",
        "credentials": settings.configured_credentials(),
        "github_api_url": settings.github_api_url,
        "slack_api_url": settings.slack_api_url,
        "anthropic_base_url": settings.anthropic_base_url,
    }
    if as_json:
        print_json(data)
        return
    credentials = settings.configured_credentials()
    data["credentials"] = (
        "set: "
        + (", ".join(name for name, is_set in credentials.items() if is_set) or "none")
        + "; not set: "
        + (", ".join(name for name, is_set in credentials.items() if not is_set) or "none")
    )
    print_table(("SETTING", "VALUE"), data.items())


image_app = typer.Typer(help="The sandbox image.", no_args_is_help=True)


@image_app.command("build")
def image_build(as_json: JsonFlag = False) -> None:
    """Build the sandbox image from Debian's packages (needs root for debootstrap); a no-op when up to date."""
    from sandbox.backend import image_recipe
    from sandbox.image import ImageBuilder
    from sandbox.manager import connect_docker

    settings = load_settings()
    if settings.sandbox_image:
        typer.echo(f"DOCKHAND_SANDBOX_IMAGE is set: sandboxes use {settings.sandbox_image} as it is")
        return
    try:
        recipe = image_recipe(settings)
        builder = ImageBuilder(connect_docker(), progress=None if as_json else lambda line: typer.echo(line, err=True))
        result = builder.build(recipe)
    except (DockhandError, OSError) as exc:
        fail(str(exc))
    if as_json:
        print_json({"tag": result.tag, "built": result.built})
    else:
        typer.echo(f"{result.tag} {'built' if result.built else 'already up to date'}")
