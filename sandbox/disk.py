"""Size limits on a sandbox's writable volumes (`/workspace` and its home directory).

Docker volumes live on the host's disk, uncapped. Each of a sandbox's two volumes is given the limit
in the first of these ways that this machine allows:

- `engine-quota`: the engine's local driver enforces a `size` option itself (its volumes directory is
  on XFS mounted with project quotas).
- `loop-filesystem`: dockhand runs as root beside the engine: each volume is an ext4 filesystem in a
  sparse file of its own under the data directory, attached to a loop device that the engine mounts.
  A write past the limit fails inside the sandbox with "No space left on device"; the host's disk
  gives at most the limit. Making one costs a few milliseconds (`mkfs` of a sparse file, `losetup`).
- `none`: neither (a remote engine, not root, no loop devices): volumes are unlimited and `dockhand
  doctor` says why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import docker
import docker.errors

from sandbox.errors import SandboxError

log = logging.getLogger(__name__)

IMAGE_SUFFIX = ".img"
CLEANUP_GRACE_SECONDS = 600.0
"""A filesystem younger than this is left to the process making it (its volume may not exist yet)."""
_QUOTA_PROBE = "dockhand-quota-probe"


class DiskLimitMode(StrEnum):
    ENGINE_QUOTA = "engine-quota"
    LOOP_FILESYSTEM = "loop-filesystem"
    NONE = "none"


@dataclass(frozen=True)
class DiskLimitSupport:
    mode: DiskLimitMode
    reason: str = ""
    """Why the limit cannot hold (mode `none`)."""


class SandboxDisks:
    """Creates and removes a sandbox's volumes, size-limited where this machine allows."""

    def __init__(self, client: docker.DockerClient, directory: Path | None, *, owner_uid: int) -> None:
        self.client = client
        self.directory = directory
        self.owner_uid = owner_uid
        self._support: DiskLimitSupport | None = None

    @property
    def support(self) -> DiskLimitSupport:
        if self._support is None:
            self._support = self._probe()
            if self._support.mode is DiskLimitMode.NONE:
                log.warning("sandbox disk limits cannot be enforced here: %s", self._support.reason)
        return self._support

    # --- volumes ------------------------------------------------------------------------------
    def create(self, name: str, labels: dict[str, str], size_bytes: int | None, *, leftover: bool = False) -> None:
        """A volume, limited to `size_bytes` when given and this machine allows (`SandboxError` when a
        volume or filesystem of that name is already there: it is someone else's; with `leftover`, one
        there is a crash's leftover, which no container mounts, and is removed first)."""
        mode = self.support.mode if size_bytes else DiskLimitMode.NONE
        if self._volume_exists(name):
            if not leftover:
                raise SandboxError(f"volume {name} exists already")
            self.remove(name)
        try:
            if mode is DiskLimitMode.ENGINE_QUOTA:
                self.client.volumes.create(name=name, labels=labels, driver_opts={"size": str(size_bytes)})
            elif mode is DiskLimitMode.LOOP_FILESYSTEM:
                assert size_bytes is not None
                device = self._loop_filesystem(name, size_bytes)
                try:
                    self.client.volumes.create(name=name, labels=labels, driver_opts={"type": "ext4", "device": device})
                except BaseException:
                    self._release(name)
                    raise
            else:
                self.client.volumes.create(name=name, labels=labels)
        except docker.errors.APIError as exc:
            raise SandboxError(f"cannot create volume {name}: {exc.explanation or exc}") from None

    def intact(self, name: str) -> bool:
        """Whether a volume still has the filesystem it was made with: a loop device's number is not its
        own for ever (after a reboot `/dev/loopN` backs another file, or nothing), so a volume whose
        device no longer backs its own image must not be mounted."""
        try:
            options = self.client.volumes.get(name).attrs.get("Options") or {}
        except docker.errors.NotFound:
            return False
        device = str(options.get("device", ""))
        if options.get("type") != "ext4" or not device.startswith("/dev/loop") or self.directory is None:
            return True  # not one of ours: nothing to check
        backing = Path("/sys/block") / Path(device).name / "loop" / "backing_file"
        try:
            return backing.read_text().strip() == str(self._image(name))
        except OSError:
            return False

    def _volume_exists(self, name: str) -> bool:
        try:
            self.client.volumes.get(name)
        except docker.errors.NotFound:
            return False
        return True

    def remove(self, name: str) -> None:
        """Remove the volume (its container must be gone) and the filesystem behind it."""
        try:
            self.client.volumes.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            log.warning("cannot remove volume %s: %s", name, exc)
            return  # still mounted somewhere: its filesystem stays until the next clean-up
        self._release(name)

    def cleanup(self) -> list[str]:
        """Filesystems left behind by volumes that are gone (a crash between the two): released."""
        if self.directory is None or not self.directory.is_dir():
            return []
        existing = {v.name for v in self.client.volumes.list()}
        released = []
        for image in self.directory.glob(f"*{IMAGE_SUFFIX}"):
            name = image.name.removesuffix(IMAGE_SUFFIX)
            try:
                young = time.time() - image.stat().st_mtime < CLEANUP_GRACE_SECONDS
            except OSError:
                continue
            if name not in existing and not young:  # a young one may be another process's, volume on its way
                self._release(name)
                released.append(name)
        return released

    # --- loop filesystems ---------------------------------------------------------------------
    def _image(self, name: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{name}{IMAGE_SUFFIX}"

    def _loop_filesystem(self, name: str, size_bytes: int) -> str:
        assert self.directory is not None
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        image = self._image(name)
        try:
            fd = os.open(image, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)  # never over a live filesystem
        except FileExistsError:
            raise SandboxError(f"the filesystem of volume {name} exists already") from None
        try:
            with open(fd, "wb") as handle:
                handle.truncate(size_bytes)  # sparse: the host's disk gives only what is written
            _run(
                "mkfs.ext4",
                "-q",
                "-F",
                "-m",
                "0",  # no blocks reserved for root: the sandbox user gets the whole limit
                "-O",
                "^has_journal",  # a sandbox's files never outlive a crash anyway
                "-E",
                f"root_owner={self.owner_uid}:{self.owner_uid},lazy_itable_init=1",
                str(image),
            )
            # Its root-owned lost+found would be in the workspace (and in the way of emptying it).
            _run("debugfs", "-w", "-R", "rmdir lost+found", str(image))
            return _run("losetup", "--find", "--show", str(image)).strip()
        except OSError as exc:
            image.unlink(missing_ok=True)
            raise SandboxError(f"cannot make the filesystem of volume {name}: {exc}") from None
        except BaseException:
            image.unlink(missing_ok=True)
            raise

    def _release(self, name: str) -> None:
        if self.directory is None:
            return
        image = self._image(name)
        if not image.exists():
            return
        for device in _devices_of(image):
            try:
                _run("losetup", "--detach", device)
            except SandboxError as exc:
                log.warning("cannot detach %s from %s: %s", device, image, exc)
        image.unlink(missing_ok=True)

    # --- what this machine allows -------------------------------------------------------------
    def _probe(self) -> DiskLimitSupport:
        if self.directory is None:
            return DiskLimitSupport(DiskLimitMode.NONE, "no directory for sandbox disks was given")
        probe = f"{_QUOTA_PROBE}-{uuid.uuid4().hex[:12]}"  # its own: create() returns an existing one unchecked
        try:
            self.client.volumes.create(name=probe, driver_opts={"size": "16m"})
        except docker.errors.APIError:
            pass  # "quota size requested but no quota support": not XFS with project quotas
        else:
            with contextlib.suppress(docker.errors.APIError):
                self.client.volumes.get(probe).remove(force=True)
            return DiskLimitSupport(DiskLimitMode.ENGINE_QUOTA)
        reason = self._why_no_loop_filesystem()
        if reason:
            return DiskLimitSupport(DiskLimitMode.NONE, reason)
        return DiskLimitSupport(DiskLimitMode.LOOP_FILESYSTEM)

    def _why_no_loop_filesystem(self) -> str:
        if os.geteuid() != 0:
            return "the engine's volumes are not on XFS with project quotas, and dockhand is not root (loop devices)"
        missing = [tool for tool in ("mkfs.ext4", "debugfs", "losetup") if shutil.which(tool) is None]
        if missing:
            return f"{', '.join(missing)} not installed (Debian: e2fsprogs, mount)"
        if not Path("/dev/loop-control").exists():
            return "no loop devices on this host (/dev/loop-control)"
        try:
            engine_host = self.client.info().get("Name", "")
        except docker.errors.APIError as exc:
            return f"cannot ask the engine: {exc}"
        if engine_host != socket.gethostname():
            return f"the engine runs on {engine_host!r}, not on this host: its mounts cannot see this host's files"
        return ""


def _devices_of(image: Path) -> list[str]:
    """The loop devices backed by `image` (`losetup -j` prints `/dev/loop3: []: (/path)`)."""
    try:
        listing = _run("losetup", "--associated", str(image))
    except SandboxError:
        return []
    return [line.split(":", 1)[0] for line in listing.splitlines() if line.startswith("/dev/")]


def _run(*command: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"{command[0]}: {exc}") from None
    if done.returncode != 0:
        raise SandboxError(f"{command[0]} failed: {(done.stderr or done.stdout).strip()[:500]}")
    return done.stdout
