"""What every CLI command needs: settings and a core, built once at the entry point."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from core.errors import DockhandError, SettingsError

if TYPE_CHECKING:
    from core.service import Core
    from core.settings import Settings
    from core.store.interface import Store
    from sandbox.cache import DependencyCache


def fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    import os

    from core.settings import Settings, unknown_variables

    for warning in unknown_variables(os.environ):
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    try:
        return Settings.load()
    except SettingsError as exc:
        fail(str(exc))


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # A nudged job that is already running is skipped (and runs again at its interval): not worth a warning.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def open_core(
    settings: Settings | None = None,
    *,
    sandboxes: bool = False,
    require_docker: bool = False,
    warm_pool: bool = False,
    on_demand: bool = False,
) -> Core:
    """A core on the configured store, with the dependency cache; with `sandboxes`, backed by Docker. Only a
    long-running process (`warm_pool`: serve, worker) keeps a warm pool: a one-shot command would exit while
    it fills. With `on_demand` too, the Docker backend is made when a task first asks for a sandbox (for a task
    that may need none, as a test run whose result is stored): Docker is neither imported nor required before."""
    from bot.cli.startup import started
    from bot.github.pipelines import defer_github_pipelines
    from core.service import Core
    from core.store.sql import open_sql_store
    from sandbox.cache import dependency_cache

    settings = settings or load_settings()
    if not warm_pool:
        settings = settings.model_copy(update={"warm_pool": 0})
    caches = [dependency_cache(settings)]
    try:
        store = open_sql_store(settings)
        if sandboxes and on_demand:
            from sandbox.on_demand import OnDemandSandboxes

            core = Core(settings, store, sandboxes=partial(OnDemandSandboxes, settings, cache=caches[0]), caches=caches)
        elif sandboxes:
            core = _docker_core(settings, store, caches, require_docker=require_docker)
        else:
            core = Core(settings, store, caches=caches)
    except DockhandError as exc:
        fail(str(exc))
    defer_github_pipelines(core)
    started()  # what the command runs on is imported and open
    return core


def _docker_core(settings: Settings, store: Store, caches: list[DependencyCache], *, require_docker: bool) -> Core:
    from core.service import Core
    from sandbox.backend import docker_backend
    from sandbox.errors import DockerUnavailableError

    try:
        return Core(settings, store, sandboxes=lambda index: docker_backend(settings, index, caches[0]), caches=caches)
    except DockerUnavailableError as exc:
        if require_docker:
            fail(str(exc))
        logging.getLogger("dockhand").warning("%s; sandboxed tasks fail until Docker is back", exc)
        return Core(settings, store, caches=caches)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A table for people (rich): aligned columns, a bold header on a terminal, no colour under NO_COLOR or
    when piped, and no wrapping when piped (a line per row, for grep)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))  # text as it is: `[main]` is not markup
    console = Console(no_color=bool(os.environ.get("NO_COLOR")) or None)
    if not console.is_terminal:
        console = Console(no_color=True, highlight=False, width=10_000)
    with console.capture() as captured:
        console.print(table)
    for line in captured.get().splitlines():  # a short last cell is padded to its column: not kept
        typer.echo(line.rstrip())


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))
