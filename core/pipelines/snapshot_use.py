"""Starting a test run from its repository's snapshot, and making or refreshing that snapshot.

A snapshot (see `core.sandboxing.SnapshotProvider`) holds what the dependency cache holds for every
project of a repository, baked into an image. A run whose projects' manifests and lockfiles match one
starts its sandbox from it, keeps those paths when its checkout replaces /workspace, and skips installing.
A run on the default branch whose installs succeeded makes one (or refreshes it, for a newer commit) in
the background, from the dependency cache it has just filled.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import DockhandError
from core.sandboxing import (
    LiveSandboxLike,
    SandboxOwner,
    SandboxPolicy,
    SandboxProvider,
    SnapshotInfo,
    SnapshotProvider,
    SourceTree,
)

__all__ = ["SnapshotInfo", "SnapshotStart", "on_default_branch", "plan_manifests", "refresh", "snapshot_key", "start"]
from core.testrun.detect import Language, ProjectPlan

if TYPE_CHECKING:
    from core.pipeline import StageContext
    from core.pipelines.test_pipeline import TestRun

log = logging.getLogger(__name__)

_building: dict[str, threading.Thread] = {}  # key → its build in this process (one per key at a time)
_building_lock = threading.Lock()
_decided: dict[SourceTree, str | None] = {}  # checkout → its default branch, if it is that (see below)
_decided_lock = threading.Lock()


def plan_manifests(plan: ProjectPlan, tree: SourceTree) -> dict[str, bytes]:
    """What a project's dependencies are made from: its manifests and lockfiles, and how it installs."""
    manifests = {}
    for name in plan.manifests:
        path = tree.path / plan.root / name
        if path.is_file():
            manifests[name] = path.read_bytes()
    manifests["#plan"] = (plan.install or "").encode() + plan.root.encode()
    if plan.language is Language.RUST:
        # cargo judges the crate's own sources by mtime (checkouts carry the commit's time): a target/ built
        # from another commit could look fresh for changed sources, so it is reused for the same commit only.
        manifests["#commit"] = tree.commit.encode()
    return manifests


def snapshot_key(repository: str, plans: Sequence[ProjectPlan], tree: SourceTree) -> str:
    """Repository + every project's manifests, lockfiles and install command (not the branch: a branch
    with the default branch's dependencies starts from the default branch's snapshot)."""
    digest = hashlib.sha256(repository.encode() + b"\0")
    for plan in plans:
        digest.update(f"{plan.language.value}\0{plan.root}\0".encode())
        manifests = plan_manifests(plan, tree)
        for name in sorted(manifests):
            digest.update(name.encode() + b"\0" + hashlib.sha256(manifests[name]).digest())
    return digest.hexdigest()[:40]


@dataclass(frozen=True)
class SnapshotStart:
    """What a run starts from: the policy to make its sandbox with, and the snapshot in it (if any)."""

    policy: SandboxPolicy
    snapshot: SnapshotInfo | None


def start(provider: SandboxProvider, key: str, policy: SandboxPolicy, *, enabled: bool) -> SnapshotStart:
    """The policy with the snapshot's image when one matches `key` on the policy's image."""
    if not enabled or not isinstance(provider, SnapshotProvider):
        return SnapshotStart(policy, None)
    try:
        found = provider.find_snapshot(key, policy.image)
    except DockhandError as exc:
        log.warning("snapshots could not be looked up: %s", exc)
        return SnapshotStart(policy, None)
    if found is None:
        return SnapshotStart(policy, None)
    return SnapshotStart(policy.with_overrides(image=found.image), found)


def open_box(
    provider: SandboxProvider,
    sandbox_id: str,
    begin: SnapshotStart,
    base: SandboxPolicy,
    *,
    owner: SandboxOwner,
    say: Callable[[str], None],
) -> tuple[LiveSandboxLike, SnapshotInfo | None]:
    """The run's sandbox, from the snapshot when there is one, from the base image when there is none or
    it cannot be used (another process's refresh or prune may have removed it since it was found)."""
    if begin.snapshot is None:
        return provider.get_or_create(sandbox_id, base, owner=owner), None
    try:
        box = provider.get_or_create(sandbox_id, begin.policy, owner=owner)
    except DockhandError as exc:
        say(f"the snapshot could not be used ({exc}): starting from the image")
        return provider.get_or_create(sandbox_id, base, owner=owner), None
    say(f"starting from the snapshot of {begin.snapshot.repository} at {begin.snapshot.commit[:12]}")
    return box, begin.snapshot


def default_branch_of(provider: SandboxProvider, tree: SourceTree) -> str | None:
    """The default branch's name when the tree is that branch: by name, or its newest commit (a push's
    test pipeline asks for the pushed commit); None otherwise (a plain directory has no branches). Decided
    once per checkout: a fetch moving the branch meanwhile must not change a run's cache keys halfway."""
    if not isinstance(provider, SnapshotProvider):
        return None
    with _decided_lock:
        if tree in _decided:
            return _decided[tree]
    default = provider.default_branch(tree.source)
    branch = None
    if default is not None and (
        tree.ref in ("HEAD", default[0], f"refs/heads/{default[0]}") or tree.commit == default[1]
    ):
        branch = default[0]
    with _decided_lock:
        _decided[tree] = branch
        while len(_decided) > 256:
            _decided.pop(next(iter(_decided)))
    return branch


def on_default_branch(provider: SandboxProvider, tree: SourceTree) -> bool:
    return default_branch_of(provider, tree) is not None


def refresh(
    provider: SandboxProvider,
    *,
    key: str,
    repository: str,
    tree: SourceTree,
    base_image: str,
    cache_keys: Sequence[str],
    say: Callable[[str], None],
) -> threading.Thread | None:
    """Make the repository's snapshot for `key`, or a newer one for this commit, in the background (the
    thread is returned so a caller may wait for it; it is not a daemon: a process ending waits for it)."""
    if not isinstance(provider, SnapshotProvider) or not cache_keys:
        return None
    try:
        existing = provider.find_snapshot(key, base_image)
    except DockhandError:
        existing = None
    if existing is not None and existing.commit == tree.commit:
        return None
    with _building_lock:
        if key in _building:
            return None
        thread = threading.Thread(target=lambda: build(), name=f"snapshot-{key[:12]}")
        _building[key] = thread

    def build() -> None:
        try:
            made = provider.build_snapshot(
                key=key, repository=repository, commit=tree.commit, base_image=base_image, cache_keys=cache_keys
            )
            log.info(
                "snapshot of %s at %s made: %s (%d MB)",
                repository,
                tree.commit[:12],
                made.image[:19],
                made.size_bytes // 10**6,
            )
        except DockhandError as exc:
            log.warning("snapshot of %s at %s not made: %s", repository, tree.commit[:12], exc)
        finally:
            with _building_lock:
                _building.pop(key, None)

    say(("refreshing" if existing else "making") + f" the snapshot of {repository} in the background")
    thread.start()
    return thread


def wait_for_builds(timeout: float | None = None) -> None:
    """Wait for the snapshots this process is making (e.g. before a one-shot command reports)."""
    with _building_lock:
        running = list(_building.values())
    for thread in running:
        thread.join(timeout)


def refresh_after_install(
    ctx: StageContext,
    run: TestRun,
    repository: str,
    cache_key_of: Callable[[StageContext, ProjectPlan, SourceTree], str],
) -> threading.Thread | None:
    """On the default branch, with every install done: the repository's snapshot, made or brought up to date."""
    assert run.tree is not None and ctx.sandboxes is not None
    provider = ctx.sandboxes
    ready = ("hit", "miss", "snapshot")
    installed = all(p.get("cache") in ready and p["status"] != "install-failed" for p in run.projects)
    # Rust's dependencies are keyed by commit (cargo's target/ is judged by mtime): a snapshot per commit
    # would serve no other run, so Rust repositories start from the dependency cache instead.
    per_commit = any(plan.language is Language.RUST for plan in run.plans)
    if not (ctx.settings.snapshots and installed and run.plans and not per_commit):
        return None
    if not on_default_branch(provider, run.tree):
        return None
    return refresh(
        provider,
        key=snapshot_key(repository, run.plans, run.tree),
        repository=ctx.task.repository or run.tree.source,  # as people know it (`repository` may be a hash)
        tree=run.tree,
        base_image=run.base_image,
        cache_keys=[cache_key_of(ctx, plan, run.tree) for plan in run.plans if plan.cache_paths],
        say=ctx.log.system,
    )
