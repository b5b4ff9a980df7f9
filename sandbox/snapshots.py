"""Per-repository snapshots: a repository's prepared dependencies baked into a local image.

A snapshot is the sandbox image plus the paths the dependency cache holds for a repository (its
virtualenv, node_modules, module and build caches), committed as a local image `dockhand-snapshot:<key>`.
A sandbox made from it starts with those paths in place: Docker copies an image's content into a new,
empty volume when it first mounts it, so /workspace and the home directory are filled before the first
command, without a byte streamed through dockhand.

The key is repository + the dependency manifests and lockfiles + the base image (its ID), so a change
to any of them finds no snapshot and the task falls back to the dependency cache, then to an install.
Snapshots are built from the dependency cache's archives (not from a running sandbox), so they hold only
what the cache holds: never the checkout, a credential or anything a command wrote elsewhere.
Least recently used ones go when their total passes a size cap.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import tarfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.images import Image

from core.sandboxing import SnapshotInfo
from sandbox.cache import Archive
from sandbox.errors import SandboxError

log = logging.getLogger(__name__)

REPOSITORY = "dockhand-snapshot"
LABEL_SNAPSHOT = "dockhand.snapshot"
LABEL_KEY = "dockhand.snapshot.key"
LABEL_REPOSITORY = "dockhand.snapshot.repository"
LABEL_COMMIT = "dockhand.snapshot.commit"
LABEL_BASE = "dockhand.snapshot.base"
LABEL_PATHS = "dockhand.snapshot.paths"
LABEL_CONTENT = "dockhand.snapshot.content"  # the cache archives it was made of (see `_fingerprint`)
LABEL_INSTANCE = "dockhand.snapshot.instance"  # the installation's (as sandboxes are: see sandbox.manager)
LABEL_BUILDING = "dockhand.snapshot.building"  # a build's scratch container (left by a crash: pruned)
SANDBOX_UID = 10001
# Where git and package managers keep a user's credentials: a snapshot holding one of these is not made.
CREDENTIAL_FILES = {
    f"/home/sandbox/{name}"
    for name in (
        ".netrc",
        ".git-credentials",
        ".pypirc",
        ".npmrc",
        ".yarnrc.yml",
        ".docker/config.json",
        ".cargo/credentials",
        ".cargo/credentials.toml",
        ".config/gh/hosts.yml",
        ".gem/credentials",
    )
}
MAX_SCANNED_FILE_BYTES = 8 * 1024 * 1024
SCRATCH_TTL_SECONDS = 3600  # a build's scratch container older than this was left by a crash
WRITABLE = (PurePosixPath("/workspace"), PurePosixPath("/home/sandbox"))  # a snapshot adds nothing elsewhere


class SnapshotImages:
    """Implements the snapshot half of `core.sandboxing.SandboxProvider` on the Docker engine, and
    `core.service.Cache`: counted in /metrics, pruned to its cap hourly, emptied by `dockhand cache clear`."""

    name = "snapshots"

    def __init__(
        self,
        client: docker.DockerClient,
        state_dir: Path,
        *,
        instance: str,
        max_bytes: int,
        secrets: Sequence[str] = (),
    ) -> None:
        self.client = client
        self.instance = instance
        self.state_dir = state_dir  # one file per snapshot: its mtime is when it was last used
        self.max_bytes = max_bytes
        self.secrets = [s.encode() for s in secrets if len(s) >= 8]  # dockhand's own: never in a snapshot
        self.hits = self.misses = 0

    # --- finding and using ------------------------------------------------------------------
    def find(self, key: str, base_image: str) -> SnapshotInfo | None:
        """The newest snapshot for `key` made on `base_image` (by name or ID), marked as used now."""
        base_id = self._image_id(base_image)
        if base_id is None:
            return None
        found = [s for s in self.all() if s.key == key and s.base == base_id]
        if not found:
            self.misses += 1
            return None
        self.hits += 1
        newest = max(found, key=lambda s: s.created)
        self._mark_used(newest.image)
        return newest

    def all(self) -> list[SnapshotInfo]:
        try:
            images = self.client.images.list(filters={"label": [f"{LABEL_SNAPSHOT}=true", self._mine]})
        except docker.errors.APIError as exc:
            raise SandboxError(f"cannot list snapshots: {exc.explanation or exc}") from None
        bases: dict[str, int] = {}
        listed = []
        for image in images:
            labels = image.labels or {}
            base = labels.get(LABEL_BASE, "")
            if base not in bases:
                bases[base] = self._size_of(base)
            listed.append(
                SnapshotInfo(
                    image=image.id or "",
                    key=labels.get(LABEL_KEY, ""),
                    repository=labels.get(LABEL_REPOSITORY, ""),
                    commit=labels.get(LABEL_COMMIT, ""),
                    base=base,
                    paths=tuple(json.loads(labels.get(LABEL_PATHS, "[]"))),
                    content=labels.get(LABEL_CONTENT, ""),
                    size_bytes=max(0, int(image.attrs.get("Size", 0)) - bases[base]),
                    created=docker_time(image.attrs.get("Created")),
                    last_used=self._last_used(image),
                )
            )
        return sorted(listed, key=lambda s: (s.repository, s.created))

    # --- building ---------------------------------------------------------------------------
    def build(
        self, *, key: str, repository: str, commit: str, base_image: str, archives: Sequence[Archive]
    ) -> SnapshotInfo:
        """Bake the archives into a new snapshot of `base_image`; older ones of the same key go. When the
        newest one of the key holds these very archives, only its labels change (a new image on its layers)."""
        base_id = self._image_id(base_image)
        if base_id is None:
            raise SandboxError(f"no image {base_image!r} to make a snapshot on")
        if not archives:
            raise SandboxError("nothing to put in a snapshot (the dependency cache holds no paths for it)")
        outside = [a.path for a in archives if not _inside_writable(PurePosixPath(a.path))]
        if outside:
            raise SandboxError(f"a snapshot holds only paths in /workspace and the home directory, not {outside}")
        content = _fingerprint(archives)
        labels = {
            LABEL_SNAPSHOT: "true",
            LABEL_INSTANCE: self.instance,
            LABEL_KEY: key,
            LABEL_REPOSITORY: repository,
            LABEL_COMMIT: commit,
            LABEL_BASE: base_id,
            LABEL_PATHS: json.dumps([a.path for a in archives]),
            LABEL_CONTENT: content,
        }
        of_key = [s for s in self.all() if s.key == key]  # listed once: the older ones go after the commit
        same = [s for s in of_key if s.base == base_id and s.content == content]
        start_from = max(same, key=lambda s: s.created).image if same else base_id
        try:
            scratch = self.client.containers.create(
                start_from,
                ["true"],
                network_mode="none",
                labels={LABEL_BUILDING: "true", LABEL_INSTANCE: self.instance},
            )
        except docker.errors.APIError as exc:
            raise SandboxError(f"cannot start a snapshot: {exc.explanation or exc}") from None
        try:
            if not same:
                self._put(scratch, archives)
            image = scratch.commit(repository=REPOSITORY, tag=key[:64], conf={"Labels": labels})
        except docker.errors.APIError as exc:
            raise SandboxError(f"cannot make the snapshot: {exc.explanation or exc}") from None
        finally:
            with contextlib.suppress(docker.errors.APIError):
                scratch.remove(force=True)
        self._mark_used(image.id or "")
        for older in of_key:
            self.remove(older.image)
        self.prune()
        made = next((s for s in self.all() if s.image == image.id), None)
        if made is None:
            raise SandboxError("the snapshot was pruned at once: DOCKHAND_SNAPSHOT_MAX_SIZE is smaller than it")
        return made

    def _put(self, scratch: Container, archives: Sequence[Archive]) -> None:
        """The archives into the scratch container, each scanned and sent from one open file (what is scanned
        is what goes in); nothing may land outside /workspace and the home directory (a tar's symlink could
        lead elsewhere): the container's own record of what changed is checked before it is committed."""
        scratch.put_archive("/", _parents([a.path for a in archives]))
        for archive in archives:
            try:
                with archive.tar.open("rb") as data:
                    self._refuse_credentials(archive, data)
                    data.seek(0)
                    if not scratch.put_archive(str(PurePosixPath(archive.path).parent), data):
                        raise SandboxError(f"cannot put {archive.path} into the snapshot")
            except (OSError, tarfile.TarError) as exc:
                raise SandboxError(f"cannot read the cached {archive.path}: {exc}") from None
        changed = [c["Path"] for c in scratch.diff() or []]
        stray = [p for p in changed if not _inside_writable(PurePosixPath(p)) and not _leads_to_writable(p)]
        if stray:
            raise SandboxError(f"no snapshot: the dependencies write outside the workspace and home ({stray[:3]})")

    def _refuse_credentials(self, archive: Archive, data: BinaryIO) -> None:
        """A snapshot is shared by every later task of the repository: none is made from dependencies that
        hold a credential file or one of dockhand's own secrets (however they got there)."""
        with tarfile.open(fileobj=data, mode="r|") as tar:
            for member in tar:
                if str(PurePosixPath(archive.path).parent / member.name) in CREDENTIAL_FILES:
                    raise SandboxError(f"no snapshot: {archive.path} holds a credential file ({member.name})")
                if not self.secrets or not member.isfile() or member.size > MAX_SCANNED_FILE_BYTES:
                    continue
                handle = tar.extractfile(member)
                content = handle.read() if handle is not None else b""
                if any(secret in content for secret in self.secrets):
                    raise SandboxError(f"no snapshot: {member.name} in {archive.path} holds one of dockhand's secrets")

    # --- removing ---------------------------------------------------------------------------
    def prune(self, *, everything: bool = False) -> list[SnapshotInfo]:
        """Remove the least recently used snapshots until the rest fit the size cap (all: `everything`),
        and any scratch container a crashed build left."""
        building = self.client.containers.list(
            all=True, filters={"label": [f"{LABEL_BUILDING}=true", self._mine]}, ignore_removed=True
        )
        for scratch in building:  # one a build uses now is minutes younger
            if docker_time(scratch.attrs.get("Created")) < datetime.now(UTC) - timedelta(seconds=SCRATCH_TTL_SECONDS):
                with contextlib.suppress(docker.errors.APIError):
                    scratch.remove(force=True)
        kept = sorted(self.all(), key=lambda s: s.last_used, reverse=True)
        removed, total = [], 0
        for snapshot in kept:
            total += snapshot.size_bytes
            if (everything or total > self.max_bytes) and self.remove(snapshot.image):
                removed.append(snapshot)
        return removed

    def clear(self) -> int:
        return len(self.prune(everything=True))

    def expire(self) -> int:
        return len(self.prune())

    def stats(self) -> dict[str, int]:
        return {"hit": self.hits, "miss": self.misses}

    def remove(self, image_id: str) -> bool:
        """False when the image is in use by a sandbox (it goes with a later prune)."""
        try:
            self.client.images.remove(image_id, force=False)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            log.info("snapshot %s is kept for now: %s", image_id[:19], exc.explanation or exc)
            return False
        (self.state_dir / _marker(image_id)).unlink(missing_ok=True)
        return True

    # --- details ------------------------------------------------------------------------------
    @property
    def _mine(self) -> str:
        return f"{LABEL_INSTANCE}={self.instance}"

    def _image_id(self, name: str) -> str | None:
        try:
            return self.client.images.get(name).id
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            raise SandboxError(f"cannot look up image {name!r}: {exc.explanation or exc}") from None

    def _size_of(self, image_id: str) -> int:
        try:
            return int(self.client.images.get(image_id).attrs.get("Size", 0))
        except docker.errors.APIError:
            return 0

    def _mark_used(self, image_id: str) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / _marker(image_id)).touch()

    def _last_used(self, image: Image) -> datetime:
        marker = self.state_dir / _marker(image.id or "")
        if marker.exists():
            return datetime.fromtimestamp(marker.stat().st_mtime, UTC)
        return docker_time(image.attrs.get("Created"))


def _inside_writable(path: PurePosixPath) -> bool:
    return any(path == place or place in path.parents for place in WRITABLE)


def _leads_to_writable(path: str) -> bool:
    """A directory on the way to /workspace or home (its times change when they do)."""
    return any(PurePosixPath(path) in place.parents for place in WRITABLE)


def _fingerprint(archives: Sequence[Archive]) -> str:
    """The archives' identity (paths, sizes, times): equal for the same cache entries, unread."""
    digest = hashlib.sha256()
    for archive in archives:
        stat = archive.tar.stat()
        digest.update(f"{archive.path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:24]


def _marker(image_id: str) -> str:
    return image_id.replace(":", "-") + ".used"


def docker_time(text: object) -> datetime:
    """A time as the engine writes it (RFC 3339 in UTC, to the nanosecond); now when it cannot be read (a
    thing of unknown age counts as new: kept)."""
    try:  # Python reads microseconds at most
        head, _, fraction = str(text or "").rstrip("Z").partition(".")
        return datetime.fromisoformat(head + ("." + fraction[:6] if fraction else "")).replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


def _parents(paths: Sequence[str]) -> bytes:
    """A tar of the directories leading to each path, owned by the sandbox user (archives go into them)."""
    needed: set[str] = set()
    for path in paths:
        for parent in PurePosixPath(path).parents:
            if _inside_writable(parent):
                needed.add(str(parent).lstrip("/"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in sorted(needed):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.uid = info.gid = SANDBOX_UID
            tar.addfile(info)
    return buffer.getvalue()
