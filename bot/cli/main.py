"""`dockhand`: the command line."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import threading
from typing import Annotated, Any

import typer

from bot.cli import admin, doctor, run, secrets, setup, snapshots, tasks
from bot.cli.context import fail, load_settings, open_core, setup_logging

app = typer.Typer(
    name="dockhand",
    help="dockhand: GitHub chores done by an agent in Docker sandboxes, driven from Slack, GitHub or here.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"dockhand {version('dockhand')}")
        except PackageNotFoundError:
            typer.echo("dockhand (not installed as a package)")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """dockhand: GitHub chores done by an agent in Docker sandboxes, driven from Slack, GitHub or here."""


app.add_typer(tasks.submit_app, name="submit")
app.command("tasks")(tasks.list_tasks)
app.command("task")(tasks.show_task)
app.command("cancel")(tasks.cancel_task)
app.command("approve")(tasks.approve_task)
app.command("reject")(tasks.reject_task)
app.add_typer(admin.sandbox_app, name="sandbox")
app.add_typer(admin.cache_app, name="cache")
app.add_typer(admin.schedule_app, name="schedule")
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.image_app, name="image")
app.add_typer(snapshots.snapshot_app, name="snapshot")
app.add_typer(run.run_app, name="run")
app.add_typer(secrets.secrets_app, name="secrets")
app.add_typer(setup.setup_app, name="setup")
app.command("config")(admin.config)
app.command("doctor")(doctor.doctor)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Interface to listen on (default DOCKHAND_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default DOCKHAND_PORT, 8080).")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=0, help="Worker threads (default DOCKHAND_WORKERS).")
    ] = None,
) -> None:
    """Run the HTTP service, the workers and the scheduler in one process."""
    import uvicorn

    from bot.github.intake import attach_intake
    from bot.http.app import create_app
    from bot.http.server import server_config
    from bot.slack.app import attach_slack, connect_socket_mode
    from core.api_token import resolve_api_token, token_path

    settings = load_settings()
    setup_logging(settings)
    bind_host, bind_port = host or settings.host, port or settings.port
    listener = _listen(bind_host, bind_port)  # before anything starts: a busy port fails here, alone
    core = open_core(settings, sandboxes=True, warm_pool=True)
    token = resolve_api_token(settings)
    assert token is not None

    slack = attach_slack(core)
    socket_mode: list[Any] = []

    def shut_down() -> None:
        for handler in socket_mode:
            handler.close()
        core.stop()
        typer.echo("dockhand stopped: workers and scheduler shut down", err=True)

    def start() -> None:
        core.start(workers=workers)
        attach_intake(core)
        if slack is not None and settings.slack_app_token is not None:
            socket_mode.append(connect_socket_mode(slack))
            typer.echo("Slack: connected in Socket Mode", err=True)

    app_ = create_app(core, api_token=token, lifespan_hooks=(start, shut_down), slack=slack)
    source = "DOCKHAND_API_TOKEN" if settings.api_token else str(token_path(settings))
    typer.echo(
        f"dockhand serving on http://{bind_host}:{bind_port} (database {core.store.lifecycle.describe()}, "
        f"API token from {source})",
        err=True,
    )
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal as its exit status.
    # The bound socket itself, not its fd (uvicorn would take an fd for a Unix socket's).
    server = uvicorn.Server(server_config(app_))
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[listener])
    if not server.started:
        raise typer.Exit(3)


def _listen(host: str, port: int) -> socket.socket:
    """The service's listening socket, bound now (uvicorn serves it): a port in use is one clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose protocol says TCP;
    # with it on, a kept-alive connection's every answer waits ~40 ms for a delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        reason = "is in use (another dockhand serve?)" if exc.errno == errno.EADDRINUSE else f"cannot be used: {exc}"
        fail(f"{host}:{port} {reason}; choose another with --port or DOCKHAND_PORT")
    listener.set_inheritable(True)
    return listener


@app.command()
def worker(
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker threads (default DOCKHAND_WORKERS).")
    ] = None,
) -> None:
    """Run workers and the scheduler without the HTTP service (to add capacity beside `serve`)."""
    from bot.github.intake import attach_intake
    from bot.slack.app import attach_slack

    settings = load_settings()
    setup_logging(settings)
    core = open_core(settings, sandboxes=True, warm_pool=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    core.start(workers=workers)
    attach_intake(core)
    attach_slack(core)  # progress of the tasks this process runs goes to their Slack threads
    typer.echo(f"dockhand worker running {workers or settings.workers} workers; Ctrl-C to stop", err=True)
    stop.wait()
    core.stop()


@app.command()
def tui(
    poll: Annotated[float, typer.Option("--poll", min=0.1, max=60, help="Seconds between refreshes.")] = 1.0,
) -> None:
    """A terminal monitor of tasks, stages and logs; approve, reject, cancel and retry from it."""
    from bot.doctor import service_answers
    from tui.app import DockhandTui
    from tui.launch import check_database

    settings = load_settings()
    problem = check_database(settings)
    if problem is not None:
        fail(problem)
    running, url = service_answers(settings, 1.0)
    notice = (
        ""
        if running
        else f"dockhand serve does not answer at {url}: tasks will not move until it (or `dockhand worker`) runs; "
        "what you approve or cancel here is stored and takes effect then."
    )
    core = open_core(settings)
    try:
        DockhandTui(core, poll_seconds=poll, notice=notice).run()
    finally:
        core.close()


def main() -> None:
    # NO_COLOR (https://no-color.org): no ANSI colours, whatever the terminal.
    app(color=False) if os.environ.get("NO_COLOR") else app()


if __name__ == "__main__":
    main()
