"""What the core needs from a sandbox backend, and the values it gets back.

The `sandbox` package implements these with Docker; pipelines see only these types, so the core
runs and is tested without the docker SDK imported.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from core.errors import NotFoundError
from core.models import Sandbox
from core.states import LogStream

log = logging.getLogger(__name__)

OutputSink = Callable[[str, LogStream], None]


@dataclass(frozen=True, kw_only=True)
class SandboxPolicy:
    """A sandbox's image, limits and network. The user (unprivileged) and the read-only root are fixed.

    Limits and network can be overridden per repository; they apply when a sandbox is created (a reused
    sandbox keeps its limits; only its network follows the policy it is asked for with)."""

    image: str
    memory: str = "2g"
    cpus: float = 2.0
    pids: int = 512
    tmp_size: str = "512m"
    network: bool = False
    disk: str = "10g"
    """The size each of its volumes (/workspace, home) may fill; "0": unlimited."""

    def with_overrides(self, **changes: object) -> SandboxPolicy:
        return replace(self, **changes)  # type: ignore[arg-type]


SIZE_PATTERN = r"^[0-9]+[kmgt]?$"
_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def size_in_bytes(size: str) -> int:
    """A size as Docker writes it (`512m`, `10g`, `1t`, or plain bytes) in bytes."""
    text = size.strip().lower()
    unit = _UNITS.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in _UNITS else text
    if not digits.isdigit():
        raise ValueError(f"not a size: {size!r} (e.g. 512m, 10g)")
    return int(digits) * unit


@dataclass(frozen=True)
class SandboxOwner:
    """The task attempt a sandbox was made for: when that attempt is over (its worker died, the task was
    retried or ended), the sandbox and whatever still runs in it are removed."""

    task_id: str
    attempt: int


@dataclass(frozen=True, kw_only=True)
class ExecResult:
    """The outcome of one command in a sandbox. Output is bounded: head and tail are kept."""

    exit_code: int
    stdout: str
    stderr: str
    duration_seconds: float
    timed_out: bool = False
    cancelled: bool = False
    oom_killed: bool = False
    disk_full: tuple[str, ...] = ()
    """The sandbox's places (/workspace, its home, /tmp) found full after the command failed."""
    truncated_bytes: int = 0
    killed_leftovers: bool = False  # processes the command left running were killed after it

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.cancelled

    def describe(self) -> str:
        if self.timed_out:
            return f"timed out after {self.duration_seconds:.0f}s"
        if self.cancelled:
            return "cancelled"
        if self.oom_killed:
            return "killed: out of memory"
        if self.disk_full:
            return f"failed: disk limit reached ({', '.join(self.disk_full)} full)"
        if self.exit_code == 137:
            return "killed (SIGKILL)"
        return f"exited with code {self.exit_code}"


@dataclass(frozen=True, kw_only=True)
class ExecRequest:
    command: str
    workdir: str = "/workspace"
    env: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 3600.0
    keep_background: bool = False  # leave processes the command started running (default: kill them)


@dataclass(frozen=True, kw_only=True)
class SourceTree:
    """A clean checkout on the host (no remote, no credentials), ready to be copied into a sandbox."""

    source: str
    ref: str
    commit: str
    path: Path


@dataclass(frozen=True, kw_only=True)
class VerifiedChange:
    """A change rebuilt on the host from what a sandbox produced: one commit on top of the checkout."""

    commit: str
    bundle: bytes
    diff: str
    numstat: str
    """`git diff --numstat -z`: added, removed, path per entry, NUL-terminated."""


class LiveSandboxLike(Protocol):
    """A running sandbox a pipeline can use."""

    @property
    def sandbox_id(self) -> str: ...

    def exec(
        self, request: ExecRequest, *, output: OutputSink | None = None, cancelled: Callable[[], bool] | None = None
    ) -> ExecResult: ...

    def set_network(self, enabled: bool) -> None: ...

    def load_tree(self, tree: SourceTree, *, keep: Sequence[str] = ()) -> None:
        """Replace /workspace with the tree (but the paths in `keep`, e.g. a snapshot's dependencies)."""
        ...

    def read_file(self, path: str, *, max_bytes: int = ...) -> bytes: ...

    def write_file(self, path: str, data: bytes, *, mode: int = 0o644) -> None: ...


class SandboxProvider(Protocol):
    """Creates and removes sandboxes by ID."""

    def get_or_create(
        self, sandbox_id: str, policy: SandboxPolicy | None = None, *, owner: SandboxOwner | None = None
    ) -> LiveSandboxLike: ...

    def destroy(self, sandbox_id: str) -> None: ...

    def owned(self) -> dict[str, SandboxOwner]:
        """The sandboxes made for a task attempt, by sandbox ID."""
        ...

    def default_policy(self) -> SandboxPolicy: ...

    def materialize(self, source: str, ref: str | None, destination: Path, *, allow_local: bool) -> SourceTree:
        """Fetch `source` (through the host's mirror) and check `ref` out into `destination`."""
        ...

    def diff(self, tree: SourceTree, base: str, *, context: int = 0, renames: bool = False) -> str:
        """`git diff base...commit` of the tree's commit: -U0 for diff coverage, with context for reviews."""
        ...

    def squash_change(
        self, tree: SourceTree, bundle: bytes, *, message: str, author: tuple[str, str]
    ) -> VerifiedChange:
        """On the host: the sandbox's commits (an untrusted bundle) as one commit on top of `tree`."""
        ...

    def save_cache(self, box: LiveSandboxLike, key: str, paths: Sequence[str]) -> int: ...

    def restore_cache(self, box: LiveSandboxLike, key: str) -> bool: ...


@dataclass(frozen=True, kw_only=True)
class SnapshotInfo:
    """A repository's prepared dependencies as a local image (see `sandbox.snapshots`)."""

    image: str  # the image ID a sandbox is made from
    key: str  # repository + manifests and lockfiles (see `core.pipelines.snapshot_use.snapshot_key`)
    repository: str
    commit: str  # the default branch's commit it was made at
    base: str  # the image ID it was made on
    paths: tuple[str, ...]  # what it holds, in the sandbox (kept when a checkout replaces /workspace)
    content: str  # which cache archives it was made of: a refresh with the same ones only relabels it
    size_bytes: int
    created: datetime
    last_used: datetime


@runtime_checkable
class SnapshotProvider(Protocol):
    """A provider that can start sandboxes from per-repository snapshots (optional: a provider without
    them starts every sandbox from its image and the dependency cache)."""

    def find_snapshot(self, key: str, base_image: str) -> SnapshotInfo | None: ...

    def build_snapshot(
        self, *, key: str, repository: str, commit: str, base_image: str, cache_keys: Sequence[str]
    ) -> SnapshotInfo: ...

    def default_branch(self, source: str) -> tuple[str, str] | None:
        """The source's default branch and its commit as its host mirror knows them (None: not a git
        repository)."""
        ...


class SandboxBackend(SandboxProvider, Protocol):
    """A provider that also lists, reaps and cleans up: what `Core` is given at start-up."""

    def list(self) -> builtins.list[Sandbox]: ...

    def reap_idle(self, ttl_seconds: float) -> builtins.list[str]: ...

    def cleanup_orphans(self) -> builtins.list[str]: ...


_UNSAFE_IN_KEY = re.compile(r"[^A-Za-z0-9_.-]+")


def cache_key(repository: str, branch: str, manifests: Mapping[str, bytes], *, kind: str = "") -> str:
    """The dependency cache's key: `{kind}-{owner}-{repo}-{branch}-{hash}`, safe as a file name. The hash
    covers the exact names (the readable part may collide) and every manifest and lockfile, so a change
    to any of them starts afresh."""
    digest = hashlib.sha256(f"{kind}\0{repository}\0{branch}\0".encode())
    for name in sorted(manifests):
        digest.update(name.encode() + b"\0" + hashlib.sha256(manifests[name]).digest())
    readable = _UNSAFE_IN_KEY.sub("-", "-".join(filter(None, (kind, repository.replace("/", "-"), branch))))
    return f"{readable.strip('-')[:120]}-{digest.hexdigest()[:24]}"


def remove_owned_sandboxes(provider: SandboxProvider, over: Callable[[SandboxOwner], bool]) -> builtins.list[str]:
    """Remove the sandboxes of the task attempts that `over` says are over (with whatever still runs in them)."""
    removed = []
    for sandbox_id, owner in provider.owned().items():
        if not over(owner):
            continue
        log.warning("removing sandbox %s: attempt %d of task %s is over", sandbox_id, owner.attempt, owner.task_id)
        try:
            provider.destroy(sandbox_id)
            removed.append(sandbox_id)
        except NotFoundError:
            continue  # removed meanwhile (the attempt's own clean-up)
    return removed
