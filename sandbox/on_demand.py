"""A sandbox backend made the first time a sandbox is asked for (called at entry points only).

`dockhand run test` on a commit tested already reuses the stored result and makes no sandbox: with this
backend it neither imports the Docker client nor reaches the engine. Checkouts, diffs and squashes run on the
host (git) and never make the Docker backend; everything else makes it once and goes to it.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import StageFailedError
from core.models import Sandbox
from core.sandboxing import LiveSandboxLike, SandboxOwner, SandboxPolicy, SnapshotInfo, SourceTree, VerifiedChange
from core.settings import Settings
from core.store.interface import SandboxIndex
from sandbox.cache import DependencyCache
from sandbox.errors import DockerUnavailableError
from sandbox.git import RepoMirrors, diff_against, materialize, squash_change

if TYPE_CHECKING:
    from sandbox.manager import SandboxManager


class OnDemandSandboxes:
    """Implements `core.sandboxing.SandboxBackend` and `SnapshotProvider` as `sandbox.backend.docker_backend`
    does, made on first use. Made inside a stage, an engine out of reach fails that stage as a worker without a
    backend does (`StageFailedError`, "no sandbox backend"). It has no `caches`: the one-shot commands it is for
    neither count, expire nor clear the snapshots or a warm pool."""

    def __init__(self, settings: Settings, records: SandboxIndex, cache: DependencyCache) -> None:
        self._settings, self._records, self._cache = settings, records, cache
        self._mirrors = RepoMirrors(settings.git_cache_dir)
        self._made: SandboxManager | None = None
        self._lock = threading.Lock()

    def docker(self) -> SandboxManager:
        with self._lock:
            if self._made is None:
                from sandbox.backend import docker_backend

                try:
                    self._made = docker_backend(self._settings, self._records, self._cache)
                except DockerUnavailableError as exc:
                    raise StageFailedError(f"no sandbox backend: {exc}") from None
            return self._made

    # --- on the host ----------------------------------------------------------------------------
    def materialize(self, source: str, ref: str | None, destination: Path, *, allow_local: bool) -> SourceTree:
        return materialize(RepoMirrors(self._mirrors.cache_dir, allow_local=allow_local), source, ref, destination)

    def diff(self, tree: SourceTree, base: str, *, context: int = 0, renames: bool = False) -> str:
        return diff_against(self._mirrors, tree.source, base, tree.commit, context=context, renames=renames)

    def squash_change(
        self, tree: SourceTree, bundle: bytes, *, message: str, author: tuple[str, str]
    ) -> VerifiedChange:
        return squash_change(tree, bundle, message=message, author=author)

    # --- in Docker ------------------------------------------------------------------------------
    def get_or_create(
        self, sandbox_id: str, policy: SandboxPolicy | None = None, *, owner: SandboxOwner | None = None
    ) -> LiveSandboxLike:
        return self.docker().get_or_create(sandbox_id, policy, owner=owner)

    def destroy(self, sandbox_id: str) -> None:
        self.docker().destroy(sandbox_id)

    def owned(self) -> dict[str, SandboxOwner]:
        return self.docker().owned()

    def default_policy(self) -> SandboxPolicy:
        return self.docker().default_policy()

    def save_cache(self, box: LiveSandboxLike, key: str, paths: Sequence[str]) -> int:
        return self.docker().save_cache(box, key, paths)

    def restore_cache(self, box: LiveSandboxLike, key: str) -> bool:
        return self.docker().restore_cache(box, key)

    def find_snapshot(self, key: str, base_image: str) -> SnapshotInfo | None:
        return self.docker().find_snapshot(key, base_image)

    def build_snapshot(
        self, *, key: str, repository: str, commit: str, base_image: str, cache_keys: Sequence[str]
    ) -> SnapshotInfo:
        return self.docker().build_snapshot(
            key=key, repository=repository, commit=commit, base_image=base_image, cache_keys=cache_keys
        )

    def default_branch(self, source: str) -> tuple[str, str] | None:
        return self._mirrors.default_branch(source)  # the host's mirror: no engine needed

    def list(self) -> builtins.list[Sandbox]:
        return self.docker().list()

    def reap_idle(self, ttl_seconds: float) -> builtins.list[str]:
        return self.docker().reap_idle(ttl_seconds)

    def cleanup_orphans(self) -> builtins.list[str]:
        return self.docker().cleanup_orphans()
