"""`dockhand snapshot list|build|prune`: the per-repository snapshot images (see `sandbox.snapshots`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.context import fail, load_settings, print_json, print_table
from core.errors import DockhandError

if TYPE_CHECKING:
    from sandbox.snapshots import SnapshotImages

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
snapshot_app = typer.Typer(
    help="Per-repository snapshots: a repository's prepared dependencies as a local image.", no_args_is_help=True
)


def _images() -> SnapshotImages:
    from sandbox.backend import snapshot_images
    from sandbox.manager import connect_docker

    try:
        return snapshot_images(connect_docker(), load_settings())
    except DockhandError as exc:
        fail(str(exc))


@snapshot_app.command("list")
def snapshot_list(as_json: JsonFlag = False) -> None:
    """List snapshots: repository, commit, size, when made and last used."""
    from core.views import snapshot_view

    snapshots = _images().all()
    if as_json:
        print_json({"snapshots": [snapshot_view(s) for s in snapshots]})
        return
    if not snapshots:
        typer.echo("no snapshots")
        return
    now = datetime.now(UTC)
    print_table(
        ("REPOSITORY", "COMMIT", "SIZE", "MADE", "LAST USED", "IMAGE"),
        (
            (
                s.repository,
                s.commit[:12],
                f"{s.size_bytes / 1e6:.0f} MB",
                f"{int((now - s.created).total_seconds())}s ago",
                f"{int((now - s.last_used).total_seconds())}s ago",
                s.image.removeprefix("sha256:")[:12],
            )
            for s in snapshots
        ),
    )


@snapshot_app.command("build")
def snapshot_build(
    source: Annotated[str, typer.Argument(help="A git repository: a local path, a git URL, or owner/repo.")],
    as_json: JsonFlag = False,
) -> None:
    """Make or update a repository's snapshot (its test pipeline on the default branch installs its dependencies,
    which are then baked into an image)."""
    from bot.cli.run import run_test
    from core.pipelines.snapshot_use import wait_for_builds

    settings = load_settings()
    if not settings.snapshots:
        fail("snapshots are off (DOCKHAND_SNAPSHOTS=false)")
    started = datetime.now(UTC) - timedelta(seconds=1)
    try:
        run_test(source, ref=None, base=None, force=True, as_json=False)
    except typer.Exit as done:
        if done.exit_code not in (0, 1):  # 1: the tests failed, which does not matter to a snapshot
            raise
    wait_for_builds()
    snapshots = sorted((s for s in _images().all() if s.created >= started), key=lambda s: s.created)
    if not snapshots:
        fail("no snapshot was made: the install did not succeed, or the source is not a git repository")
    newest = snapshots[-1]
    if as_json:
        from core.views import snapshot_view

        print_json(snapshot_view(newest))
    else:
        typer.echo(f"snapshot of {newest.repository} at {newest.commit[:12]}: {newest.size_bytes / 1e6:.0f} MB")


@snapshot_app.command("prune")
def snapshot_prune(
    everything: Annotated[
        bool, typer.Option("--all", help="Remove every snapshot, not only those over the cap.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Remove the least recently used snapshots over DOCKHAND_SNAPSHOT_MAX_SIZE (or all of them)."""
    removed = _images().prune(everything=everything)
    if as_json:
        print_json({"removed": [s.image for s in removed]})
        return
    for snapshot in removed:
        typer.echo(f"removed the snapshot of {snapshot.repository} at {snapshot.commit[:12]}")
    typer.echo(f"{len(removed)} snapshot(s) removed")
