"""The dependency (session) cache: installed dependencies saved once, restored into the next sandbox.

An entry is keyed by repository + branch + a hash of the dependency manifests and lockfiles, so a
change to any of them starts afresh. Entries are tar archives taken out of a sandbox through the
Docker archive API and put back the same way; they expire after a TTL.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from core.sandboxing import ExecRequest
from sandbox.errors import SandboxError

if TYPE_CHECKING:  # the Docker client is imported only where a sandbox is made
    from core.settings import Settings
    from sandbox.live import LiveSandbox

MAX_ENTRY_BYTES = 4 * 1024**3
_ALWAYS_THERE = {"/workspace", "/home/sandbox", "/tmp"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Archive:
    """One path of a cache entry or a snapshot and the tar of its content."""

    path: str
    tar: Path


def dependency_cache(settings: Settings) -> DependencyCache:
    return DependencyCache(settings.cache_dir, settings.cache_ttl_seconds)


class DependencyCache:
    """Implements `core.service.Cache`: cleared by `dockhand cache clear` and POST /session/clear."""

    name = "dependencies"

    def __init__(self, root: Path, ttl_seconds: float) -> None:
        self.root = root
        self.ttl_seconds = ttl_seconds
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def restore(self, box: LiveSandbox, key: str) -> bool:
        """Put a cached entry's paths back into the sandbox; False (a miss) when there is none."""
        entry = self._entry(key)
        manifest = entry / "manifest.json"
        if not manifest.exists() or self._expired(manifest):
            self._count(hit=False)
            return False
        paths = json.loads(manifest.read_text())["paths"]
        missing = {str(PurePosixPath(path).parent) for path in paths} - _ALWAYS_THERE
        parents = " ".join(shlex.quote(parent) for parent in sorted(missing))
        if parents and not box.exec(ExecRequest(command=f"mkdir -p {parents}", timeout_seconds=60)).ok:
            raise SandboxError(f"sandbox {box.sandbox_id}: cannot create {parents} to restore the cache")
        for index, path in enumerate(paths):
            with (entry / f"{index}.tar").open("rb") as archive:
                box.put_archive(str(PurePosixPath(path).parent), archive)
        self._count(hit=True)
        return True

    def archives(self, key: str) -> list[Archive] | None:
        """An entry's paths and their archives on the host (None when there is no such entry)."""
        entry = self._entry(key)
        manifest = entry / "manifest.json"
        if not manifest.exists() or self._expired(manifest):
            return None
        paths = json.loads(manifest.read_text())["paths"]
        return [Archive(path, entry / f"{index}.tar") for index, path in enumerate(paths)]

    def save(self, box: LiveSandbox, key: str, paths: Sequence[str]) -> int:
        """Store `paths` (absolute, in the sandbox) under `key`; returns the bytes stored."""
        entry = self._entry(key)
        staging = entry.with_name(entry.name + f".tmp-{time.monotonic_ns()}")
        staging.mkdir(parents=True)
        stored: list[str] = []
        total = 0
        try:
            for path in paths:
                try:
                    total += box.archive_to(path, staging / f"{len(stored)}.tar", max_bytes=MAX_ENTRY_BYTES - total)
                except SandboxError as exc:
                    if "no such file" in str(exc):
                        continue
                    raise
                stored.append(path)
            (staging / "manifest.json").write_text(json.dumps({"paths": stored, "created": time.time()}))
            shutil.rmtree(entry, ignore_errors=True)
            staging.rename(entry)  # readers see a whole entry or none
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return total

    def expire(self) -> int:
        removed = 0
        for manifest in self.root.glob("*/manifest.json"):
            if self._expired(manifest):
                shutil.rmtree(manifest.parent, ignore_errors=True)
                removed += 1
        return removed

    def clear(self) -> int:
        entries = [p for p in self.root.glob("*") if p.is_dir()] if self.root.exists() else []
        for entry in entries:
            shutil.rmtree(entry, ignore_errors=True)
        return len(entries)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"hit": self.hits, "miss": self.misses}

    def _count(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def _entry(self, key: str) -> Path:
        if not key or _UNSAFE.search(key) or key.startswith("."):
            raise ValueError(f"invalid cache key {key!r}")
        return self.root / key

    def _expired(self, manifest: Path) -> bool:
        return time.time() - manifest.stat().st_mtime > self.ttl_seconds
