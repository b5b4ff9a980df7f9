"""Sandbox lifecycle keyed by sandbox ID: get-or-create with reuse, list, destroy, idle reaping, orphans.

Containers carry labels naming them dockhand's, their sandbox ID and the dockhand instance (a hash
of its database), so two installations sharing one Docker engine never touch each other's.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import logging
import re
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network

from core.models import Sandbox, utcnow
from core.sandboxing import (
    LiveSandboxLike,
    SandboxOwner,
    SandboxPolicy,
    SnapshotInfo,
    SourceTree,
    VerifiedChange,
    size_in_bytes,
)
from core.states import SandboxState
from core.store.interface import SandboxIndex
from sandbox.cache import DependencyCache
from sandbox.disk import SandboxDisks
from sandbox.errors import DockerUnavailableError, SandboxError, SandboxNotFoundError
from sandbox.firewall import IsolationError, isolate
from sandbox.git import RepoMirrors, diff_against, materialize, squash_change
from sandbox.live import SANDBOX_UID, LiveSandbox
from sandbox.snapshots import SnapshotImages
from sandbox.warm_pool import WarmPool

log = logging.getLogger(__name__)

LABEL_MANAGED = "dockhand.managed"
LABEL_ID = "dockhand.sandbox-id"
LABEL_INSTANCE = "dockhand.instance"
LABEL_TASK = "dockhand.task"
LABEL_ATTEMPT = "dockhand.attempt"
NETWORK = "dockhand-sandboxes"
TOUCH_INTERVAL_SECONDS = 1.0
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$")

# PID 1 of every sandbox: sleeps and reaps orphans, so finished processes never pile up as zombies.
REAPER = (
    "import os,time\nwhile True:\n    try:\n        os.wait()\n    except ChildProcessError:\n        time.sleep(0.2)\n"
)


def connect_docker() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerUnavailableError(f"cannot reach the Docker engine: {exc}") from None
    return client


def _busy(container: Container) -> bool:
    container.reload()
    api = container.client.api  # type: ignore[union-attr]
    for exec_id in container.attrs.get("ExecIDs") or []:
        try:
            if api.exec_inspect(exec_id).get("Running"):
                return True
        except docker.errors.NotFound:
            continue
    return False


def instance_label(database_url: str) -> str:
    return hashlib.sha256(database_url.encode()).hexdigest()[:12]


def lockdown(policy: SandboxPolicy, workspace: str, home: str) -> dict[str, Any]:
    """The container options that lock a sandbox down (for `containers.create`): unprivileged user, read-only
    root, the two named volumes, a tmpfs, no capabilities, pid, memory and CPU limits. bench/sandbox_latency.py
    measures its floor with the same ones."""
    return {
        "user": f"{SANDBOX_UID}:{SANDBOX_UID}",
        "working_dir": "/workspace",
        "read_only": True,
        # exec: compilers (go test, cargo, pytest plugins) run what they build in /tmp.
        "tmpfs": {"/tmp": f"rw,exec,nosuid,nodev,size={policy.tmp_size},mode=1777"},
        "volumes": {workspace: {"bind": "/workspace", "mode": "rw"}, home: {"bind": "/home/sandbox", "mode": "rw"}},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "pids_limit": policy.pids,
        "mem_limit": policy.memory,
        "memswap_limit": policy.memory,
        "nano_cpus": int(policy.cpus * 1e9),
        "ipc_mode": "private",
    }


class SandboxManager:
    """Implements `core.sandboxing.SandboxProvider` and `core.service.SandboxDirectory` on Docker."""

    def __init__(
        self,
        client: docker.DockerClient,
        records: SandboxIndex,
        policy: SandboxPolicy,
        *,
        instance: str,
        allow_unisolated_network: bool = False,
        mirrors: RepoMirrors | None = None,
        cache: DependencyCache | None = None,
        disks: SandboxDisks | None = None,
        snapshots: SnapshotImages | None = None,
        pool: WarmPool | None = None,
    ) -> None:
        self.client = client
        self.disks = disks or SandboxDisks(client, None, owner_uid=SANDBOX_UID)
        self.mirrors = mirrors
        self.cache = cache
        self.snapshots = snapshots
        self.pool = pool
        self.allow_unisolated_network = allow_unisolated_network
        self.isolation_error: str | None = None
        self.records = records
        self.policy = policy
        self.instance = instance
        self._lock = threading.Lock()
        self._exec_locks: dict[str, threading.Lock] = {}
        self._touched: dict[str, float] = {}  # sandbox ID → when this process last recorded its use
        self._network: Network | None = None

    def default_policy(self) -> SandboxPolicy:
        return self.policy

    @property
    def caches(self) -> builtins.list[SnapshotImages | WarmPool]:
        """The snapshots and the warm pool, which `Core` counts, expires and clears like its caches."""
        return [cache for cache in (self.snapshots, self.pool) if cache is not None]

    # --- sources and caches (the host side of pipelines) -----------------------------------------
    def materialize(self, source: str, ref: str | None, destination: Path, *, allow_local: bool) -> SourceTree:
        if self.mirrors is None:
            raise SandboxError("no repository mirror directory is configured")
        mirrors = RepoMirrors(self.mirrors.cache_dir, allow_local=allow_local)
        return materialize(mirrors, source, ref, destination)

    def diff(self, tree: SourceTree, base: str, *, context: int = 0, renames: bool = False) -> str:
        if self.mirrors is None:
            raise SandboxError("no repository mirror directory is configured")
        return diff_against(self.mirrors, tree.source, base, tree.commit, context=context, renames=renames)

    def squash_change(
        self, tree: SourceTree, bundle: bytes, *, message: str, author: tuple[str, str]
    ) -> VerifiedChange:
        return squash_change(tree, bundle, message=message, author=author)

    def save_cache(self, box: LiveSandboxLike, key: str, paths: Sequence[str]) -> int:
        if self.cache is None or not isinstance(box, LiveSandbox):
            return 0
        return self.cache.save(box, key, paths)

    def restore_cache(self, box: LiveSandboxLike, key: str) -> bool:
        if self.cache is None or not isinstance(box, LiveSandbox):
            return False
        return self.cache.restore(box, key)

    # --- snapshots (implements core.sandboxing.SnapshotProvider when there is a snapshot store) ---------
    def find_snapshot(self, key: str, base_image: str) -> SnapshotInfo | None:
        return self.snapshots.find(key, base_image) if self.snapshots is not None else None

    def build_snapshot(
        self, *, key: str, repository: str, commit: str, base_image: str, cache_keys: Sequence[str]
    ) -> SnapshotInfo:
        if self.snapshots is None or self.cache is None:
            raise SandboxError("snapshots are off (DOCKHAND_SNAPSHOTS) or there is no dependency cache")
        archives = []
        for cache_key in cache_keys:  # every project's, or the snapshot would skip installing one it lacks
            entry = self.cache.archives(cache_key)
            if entry is None:
                raise SandboxError(
                    f"no snapshot: the dependency cache has no entry {cache_key} (expired, or not saved)"
                )
            archives += entry
        made = self.snapshots.build(
            key=key, repository=repository, commit=commit, base_image=base_image, archives=archives
        )
        if self.pool is not None:  # the repository's next task finds its workspace filled already
            self.pool.refill(made.image, size_in_bytes(self.policy.disk) or None)
        return made

    def default_branch(self, source: str) -> tuple[str, str] | None:
        if self.mirrors is None:
            return None
        with contextlib.suppress(SandboxError):
            return self.mirrors.default_branch(source)
        return None

    def _network_allowed(self) -> str | None:
        """Why network must stay off (no isolation and the operator did not accept that), or None."""
        if self.isolation_error and not self.allow_unisolated_network:
            return (
                f"network refused: the sandbox network could not be isolated ({self.isolation_error}); "
                "run as root, or set DOCKHAND_SANDBOX_UNISOLATED_NETWORK=true to accept the risk"
            )
        return None

    # --- lifecycle --------------------------------------------------------------------------
    def get_or_create(
        self, sandbox_id: str, policy: SandboxPolicy | None = None, *, owner: SandboxOwner | None = None
    ) -> LiveSandbox:
        """The live sandbox with this ID, reused when it exists, created (locked down) when not; `owner`
        labels it with the task attempt it serves (see `owned`)."""
        if not _ID.match(sandbox_id):
            raise SandboxError(f"invalid sandbox id {sandbox_id!r} (letters, digits, . _ -; at most 151)")
        policy = policy or self.policy
        with self._lock:
            container = self._find(sandbox_id)
            if container is not None and container.status != "running" and not self._disks_intact(container):
                log.warning("sandbox %s: its disk is not the one it was made with (a reboot?): made afresh", sandbox_id)
                self._remove(container)
                container = None
            made = container is None
            if container is None:
                container = self._create(sandbox_id, policy, owner)
            if container.status != "running":
                container.start()
                if not made:  # one made just now has the attributes it was made with: no inspection
                    container.reload()
        self._touch(sandbox_id, container, SandboxState.RUNNING)
        with self._lock:
            exec_lock = self._exec_locks.setdefault(sandbox_id, threading.Lock())
        live = LiveSandbox(
            sandbox_id,
            container,
            policy,
            self._sandbox_network(),
            exec_lock=exec_lock,
            on_use=lambda: self._touch_now_and_then(sandbox_id),
            network_allowed=self._network_allowed,
        )
        if live.network_enabled != policy.network:  # as listed or created just now: no inspection
            live.set_network(policy.network)
        return live

    def destroy(self, sandbox_id: str) -> None:
        container = self._find(sandbox_id)
        known = self.records.get(sandbox_id) is not None
        if container is None and not known:
            raise SandboxNotFoundError(f"no sandbox {sandbox_id}")
        if container is not None:
            self._remove(container)
        self.records.forget(sandbox_id)

    def list(self) -> builtins.list[Sandbox]:
        """Sandboxes as Docker sees them, with the store's timestamps."""
        rows = {row.id: row for row in self.records.all()}
        listed = []
        for container in self._containers():
            sandbox_id = container.labels.get(LABEL_ID, "")
            row = rows.get(sandbox_id) or Sandbox(id=sandbox_id)
            row.container_id = container.id
            row.image = container.attrs.get("Config", {}).get("Image", "")
            row.state = SandboxState.RUNNING if container.status == "running" else SandboxState.STOPPED
            listed.append(row)
        return sorted(listed, key=lambda s: s.id)

    def reap_idle(self, ttl_seconds: float) -> builtins.list[str]:
        """Remove sandboxes unused for longer than the TTL."""
        cutoff = utcnow() - timedelta(seconds=ttl_seconds)
        idle = self.records.unused_since(cutoff)
        removed = []
        for sandbox_id in idle:
            container = self._find(sandbox_id)
            if container is not None and _busy(container):
                self.touch(sandbox_id)  # a long command is running: not idle
                continue
            log.info("removing idle sandbox %s", sandbox_id)
            with contextlib.suppress(SandboxNotFoundError):
                self.destroy(sandbox_id)
                removed.append(sandbox_id)
        return removed

    def owned(self) -> dict[str, SandboxOwner]:
        """This instance's sandboxes made for a task attempt, by sandbox ID."""
        found = {}
        # sparse: the labels are all it needs, no inspection per container
        listed = self.client.containers.list(all=True, sparse=True, filters=self._ours())
        for container in listed:
            labels = container.attrs.get("Labels") or {}
            task_id, attempt = labels.get(LABEL_TASK), labels.get(LABEL_ATTEMPT, "")
            if task_id and attempt.isdigit():
                found[labels.get(LABEL_ID, "")] = SandboxOwner(task_id, int(attempt))
        return found

    def cleanup_orphans(self) -> builtins.list[str]:
        """At start-up: remove this instance's containers the store does not know, and rows without containers."""
        known = {row.id for row in self.records.all()}
        removed = []
        if self.pool is not None:
            self.pool.reap()  # pairs whose image is gone, and a crash's leftovers
        for name in self.disks.cleanup():
            log.warning("released the disk of sandbox volume %s, which was gone", name)
        live_ids = set()
        for container in self._containers():
            sandbox_id = container.labels.get(LABEL_ID, "")
            live_ids.add(sandbox_id)
            if sandbox_id not in known:
                log.warning("removing orphaned sandbox container %s (%s)", container.name, sandbox_id)
                self._remove(container)
                removed.append(sandbox_id)
        for sandbox_id in known - live_ids:
            self.records.forget(sandbox_id)
        return removed

    # --- docker details ---------------------------------------------------------------------
    def _create(self, sandbox_id: str, policy: SandboxPolicy, owner: SandboxOwner | None) -> Container:
        name = f"dockhand-{self.instance}-{sandbox_id}"
        volume, home = f"{name}-workspace", f"{name}-home"
        labels = {LABEL_MANAGED: "true", LABEL_ID: sandbox_id, LABEL_INSTANCE: self.instance}
        if owner is not None:
            labels.update({LABEL_TASK: owner.task_id, LABEL_ATTEMPT: str(owner.attempt)})
        made: builtins.list[str] = []  # only what this call made is removed if it fails
        try:
            # Volumes, not tmpfs: Docker's archive API (files in, caches out) can read and write them.
            disk = size_in_bytes(policy.disk) or None
            # Only a snapshot's (an image ID) are worth filling ahead: the base image's workspace is empty.
            from_snapshot = self.pool is not None and policy.image.startswith("sha256:")
            pooled = self.pool.take(policy.image, disk) if self.pool is not None and from_snapshot else None
            if pooled is not None:  # filled from the image already: no copying at start
                volume, home = pooled.workspace, pooled.home
                made += [volume, home]
            for name_ in (volume, home) if pooled is None else ():  # one there is a crash's: `_find` found none
                self.disks.create(name_, labels, disk, leftover=True)
                made.append(name_)
            container = self.client.containers.create(
                image=policy.image,
                command=["python3", "-c", REAPER],
                name=name,
                hostname="sandbox",
                labels=labels,
                environment={"HOME": "/home/sandbox"},
                **lockdown(policy, volume, home),
                # Without network from the start when none is wanted: nothing to attach and detach again.
                **({"network": self._sandbox_network().name} if policy.network else {"network_mode": "none"}),
                detach=True,
            )
        except SandboxError:
            self._remove_volumes(made)
            found = self._find(sandbox_id)  # made meanwhile by another process: reuse it
            if found is not None:
                return found
            raise
        except docker.errors.ImageNotFound:
            self._remove_volumes(made)
            raise SandboxError(
                f"sandbox image {policy.image!r} is not there: run `dockhand image build` or set DOCKHAND_SANDBOX_IMAGE"
            ) from None
        except docker.errors.APIError as exc:
            if exc.status_code == 409:  # created meanwhile by another process: reuse it
                found = self._find(sandbox_id)
                if found is not None:
                    return found
            self._remove_volumes(made)
            raise SandboxError(f"cannot create sandbox {sandbox_id}: {exc.explanation or exc}") from None
        return container

    def _sandbox_network(self) -> Network:
        """A bridge network without inter-container traffic: sandboxes reach registries, not each other."""
        if self._network is not None:
            return self._network
        found = [n for n in self.client.networks.list(names=[NETWORK]) if n.name == NETWORK]
        if found:
            self._network = found[0]
        else:
            try:
                self._network = self.client.networks.create(
                    NETWORK,
                    driver="bridge",
                    labels={LABEL_MANAGED: "true"},
                    options={"com.docker.network.bridge.enable_icc": "false"},
                )
            except docker.errors.APIError:
                self._network = next(n for n in self.client.networks.list(names=[NETWORK]) if n.name == NETWORK)
        if (self._network.attrs.get("Options") or {}).get("com.docker.network.bridge.enable_icc") != "false":
            raise SandboxError(
                f"network {NETWORK} lets containers talk to each other; remove it so dockhand remakes it"
            )
        try:
            isolate(self._network)
        except IsolationError as exc:
            self.isolation_error = str(exc)
            log.warning("sandbox network not isolated from this host and private ranges: %s", exc)
        return self._network

    def _find(self, sandbox_id: str) -> Container | None:
        matches = self.client.containers.list(
            all=True,
            filters={"label": [f"{LABEL_ID}={sandbox_id}", f"{LABEL_INSTANCE}={self.instance}"]},
            ignore_removed=True,  # removed between the listing and its inspection: gone, not an error
        )
        return matches[0] if matches else None

    def _containers(self) -> builtins.list[Container]:
        return list(self.client.containers.list(all=True, filters=self._ours(), ignore_removed=True))

    def _ours(self) -> dict[str, builtins.list[str]]:
        """The label filter of this instance's containers."""
        return {"label": [f"{LABEL_MANAGED}=true", f"{LABEL_INSTANCE}={self.instance}"]}

    def _remove(self, container: Container) -> None:
        volumes = [m["Name"] for m in container.attrs.get("Mounts", []) if m.get("Type") == "volume"]
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
        self._remove_volumes(volumes)

    def _disks_intact(self, container: Container) -> bool:
        volumes = [m["Name"] for m in container.attrs.get("Mounts", []) if m.get("Type") == "volume"]
        return all(self.disks.intact(name) for name in volumes)

    def _remove_volumes(self, names: builtins.list[str]) -> None:
        for name in names:
            self.disks.remove(name)

    # --- store ------------------------------------------------------------------------------
    def _touch(self, sandbox_id: str, container: Container, state: SandboxState) -> None:
        image = container.attrs.get("Config", {}).get("Image", "")
        self.records.record(sandbox_id, container_id=container.id or "", image=image, state=state)

    def touch(self, sandbox_id: str) -> None:
        self.records.touch(sandbox_id)
        self._touched[sandbox_id] = time.monotonic()

    def _touch_now_and_then(self, sandbox_id: str) -> None:
        """Record a use, at most once a second per sandbox: the idle reaper counts in minutes, and a write
        per command would double a quick command's cost (a running command is never idle: see `_busy`)."""
        if time.monotonic() - self._touched.get(sandbox_id, -TOUCH_INTERVAL_SECONDS) >= TOUCH_INTERVAL_SECONDS:
            self.touch(sandbox_id)
