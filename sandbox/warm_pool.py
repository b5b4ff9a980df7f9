"""The warm pool: workspaces prepared ahead of the tasks that will use them (from snapshots only).

Most of a sandbox's start from a snapshot is Docker filling its new, empty volumes from the image (the
dependencies are copied in). The pool does that ahead of time: it keeps a few pairs of volumes
(/workspace and the home directory) already filled from a recently used image, and a sandbox made from
that image takes a pair instead of empty ones, so it starts in the time of a container start.

Pairs are claimed through the file system (one marker file per pair, taken by an atomic rename), so
several dockhand processes on one engine never take the same pair. The pool is bounded (`size` pairs in
all), refilled in the background after each take, and emptied of pairs whose image has gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docker
import docker.errors

from sandbox.disk import SandboxDisks
from sandbox.snapshots import docker_time

log = logging.getLogger(__name__)

LABEL_POOL = "dockhand.pool"
LABEL_POOL_IMAGE = "dockhand.pool.image"
LABEL_POOL_DISK = "dockhand.pool.disk"
SETTLE_SECONDS = 600  # a pool volume no marker offers and no container mounts is a leftover after this long


@dataclass(frozen=True)
class PooledWorkspace:
    """A pair of volumes filled from `image`: what a sandbox mounts at /workspace and its home."""

    workspace: str
    home: str


@dataclass
class PoolCounts:
    hits: int = 0
    misses: int = 0


class WarmPool:
    """Implements `core.service.Cache` too: counted in /metrics, reaped hourly, emptied by `dockhand cache clear`."""

    name = "warm-pool"

    def __init__(
        self,
        client: docker.DockerClient,
        disks: SandboxDisks,
        state_dir: Path,
        *,
        instance: str,
        size: int,
        instance_label: str,
    ) -> None:
        self.client = client
        self.disks = disks
        self.state_dir = state_dir  # `<pair>.ready` files: one per pair waiting to be taken
        self.instance = instance
        self.size = size
        # Not the sandboxes' "managed" label: a filler container is no sandbox (no one lists or adopts it).
        self._labels = {instance_label: instance, LABEL_POOL: "true"}
        self._ours = [f"{LABEL_POOL}=true", f"{instance_label}={instance}"]
        self._filling: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self.counts = PoolCounts()

    # --- taking ----------------------------------------------------------------------------------
    def take(self, image_id: str, disk_bytes: int | None) -> PooledWorkspace | None:
        """A ready pair filled from `image_id` with volumes of `disk_bytes`, now this caller's; None when
        there is none (then a refill is started)."""
        if self.size <= 0:
            return None
        for marker in sorted(self._ready()):
            pair = _read(marker)
            if pair is None or pair[0] != image_id or pair[1] != str(disk_bytes or 0):
                continue
            taken = marker.with_suffix(f".taken-{uuid.uuid4().hex[:8]}")
            try:
                marker.rename(taken)  # atomic: one taker only
            except FileNotFoundError:
                continue
            if not all(self.disks.intact(volume) for volume in pair[2:]):
                # Its loop device backs another file now (a reboot, a detach): never mount that.
                for volume in pair[2:]:
                    self.disks.remove(volume)
                taken.unlink(missing_ok=True)
                continue
            taken.unlink(missing_ok=True)
            self._count(hit=True)
            self.refill(image_id, disk_bytes)
            return PooledWorkspace(pair[2], pair[3])
        self._count(hit=False)
        self.refill(image_id, disk_bytes)
        return None

    # --- filling ---------------------------------------------------------------------------------
    def refill(self, image_id: str, disk_bytes: int | None) -> threading.Thread | None:
        """Prepare one more pair from the image in the background, if the pool has room."""
        key = f"{image_id}:{disk_bytes or 0}"
        with self._lock:
            if self.size <= 0 or key in self._filling:
                return None
            thread = threading.Thread(target=lambda: fill(), name="warm-pool", daemon=True)
            self._filling[key] = thread

        def fill() -> None:
            try:
                if not self._make_room(image_id):
                    return
                self.fill(image_id, disk_bytes)
            except Exception as exc:  # a pool that cannot fill is a slower start, never a failure
                log.warning("warm pool: could not prepare a workspace from %s: %s", image_id[:19], exc)
            finally:
                with self._lock:
                    self._filling.pop(key, None)

        thread.start()
        return thread

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the fills under way (e.g. before a process that made some ends)."""
        with self._lock:
            running = list(self._filling.values())
        for thread in running:
            thread.join(timeout)

    def fill(self, image_id: str, disk_bytes: int | None) -> PooledWorkspace:
        """Make a pair and let Docker fill it from the image (by mounting it once), then offer it."""
        name = f"dockhand-{self.instance}-pool-{uuid.uuid4().hex[:12]}"
        labels = {**self._labels, LABEL_POOL_IMAGE: image_id, LABEL_POOL_DISK: str(disk_bytes or 0)}
        pair = PooledWorkspace(f"{name}-workspace", f"{name}-home")
        made: list[str] = []
        try:
            for volume in (pair.workspace, pair.home):
                self.disks.create(volume, labels, disk_bytes)
                made.append(volume)
            filler = self.client.containers.create(
                image_id,
                ["true"],
                name=f"{name}-filler",
                network_mode="none",
                labels=labels,
                volumes={pair.workspace: {"bind": "/workspace", "mode": "rw"}, pair.home: {"bind": "/home/sandbox"}},
            )
            try:
                filler.start()  # mounting the empty volumes fills them
                filler.wait(timeout=120)
            finally:
                filler.remove(force=True)
        except Exception:
            for volume in made:
                self.disks.remove(volume)
            raise
        self.state_dir.mkdir(parents=True, exist_ok=True)
        marker = self.state_dir / f"{name}.ready"
        staging = marker.with_suffix(".writing")
        staging.write_text(f"{image_id}\n{disk_bytes or 0}\n{pair.workspace}\n{pair.home}\n")
        os.replace(staging, marker)
        return pair

    def _make_room(self, image_id: str) -> bool:
        """Whether there is room for one more pair of `image_id`, after the least recently made pair of
        another image went if the pool was full (a pool full of this image's pairs has no room)."""
        ready = sorted(self._ready(), key=lambda m: m.stat().st_mtime)
        if len(ready) < self.size:
            return True
        for marker in ready:
            pair = _read(marker)
            if pair is not None and pair[0] != image_id:
                return self._remove_pair(marker, pair)
        return False

    def _remove_pair(self, marker: Path, pair: tuple[str, str, str, str]) -> bool:
        reaping = marker.with_suffix(".reaping")
        try:
            marker.rename(reaping)  # taken from the pool first: no one can take it meanwhile
        except FileNotFoundError:
            return False
        for volume in pair[2:]:
            self.disks.remove(volume)
        reaping.unlink(missing_ok=True)
        return True

    # --- emptying --------------------------------------------------------------------------------
    def reap(self, keep_images: set[str] | None = None) -> int:
        """Remove ready pairs over the size, or whose image is gone (or not in `keep_images`), and pool
        volumes no marker offers (a crash between making and offering); the number of pairs removed."""
        removed = 0
        offered: set[str] = set()
        for index, marker in enumerate(sorted(self._ready(), key=lambda m: m.stat().st_mtime, reverse=True)):
            pair = _read(marker)
            if pair is None:
                continue
            gone = not self._image_exists(pair[0]) or (keep_images is not None and pair[0] not in keep_images)
            if index < self.size and not gone:
                offered.update(pair[2:])
            elif self._remove_pair(marker, pair):
                removed += 1
        with self._lock:
            filling = bool(self._filling)
        if not filling:  # a fill under way has volumes no marker offers yet (and a filler container)
            for filler in self.client.containers.list(all=True, filters={"label": self._ours}, ignore_removed=True):
                with contextlib.suppress(docker.errors.APIError):
                    filler.remove(force=True)
            settled = datetime.now(UTC) - timedelta(seconds=SETTLE_SECONDS)
            for volume in self.client.volumes.list(filters={"label": self._ours}):
                if volume.name in offered or docker_time(volume.attrs.get("CreatedAt")) > settled:
                    continue  # offered, or just made or taken (by another process, maybe): not a leftover
                used = self.client.containers.list(all=True, filters={"volume": volume.name}, sparse=True)
                if not used:  # a crash's, between making and offering
                    with contextlib.suppress(docker.errors.APIError):
                        self.disks.remove(volume.name)
        return removed

    # --- as a cache ------------------------------------------------------------------------------
    def clear(self) -> int:
        size, self.size = self.size, 0
        try:
            return self.reap()
        finally:
            self.size = size

    def expire(self) -> int:
        return self.reap()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"hit": self.counts.hits, "miss": self.counts.misses}

    def counts_ready(self) -> int:
        """Pairs ready to be taken now."""
        return len(self._ready())

    # --- details ---------------------------------------------------------------------------------
    def _ready(self) -> list[Path]:
        return list(self.state_dir.glob("*.ready")) if self.state_dir.is_dir() else []

    def _image_exists(self, image_id: str) -> bool:
        try:
            self.client.images.get(image_id)
        except docker.errors.ImageNotFound:
            return False
        return True

    def _count(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self.counts.hits += 1
            else:
                self.counts.misses += 1


def _read(marker: Path) -> tuple[str, str, str, str] | None:
    try:
        lines = marker.read_text().split("\n")
    except FileNotFoundError:
        return None
    return (lines[0], lines[1], lines[2], lines[3]) if len(lines) >= 4 else None
