"""The dependency cache: save installed dependencies once, restore them into the next sandbox."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core.sandboxing import ExecRequest, cache_key
from sandbox.cache import DependencyCache
from sandbox.manager import SandboxManager

pytestmark = pytest.mark.slow


def test_keys_follow_repository_branch_and_manifests() -> None:
    a = cache_key("acme/api", "main", {"package-lock.json": b"v1", "package.json": b"{}"})
    assert a.startswith("acme-api-main-") and a == cache_key(
        "acme/api", "main", {"package.json": b"{}", "package-lock.json": b"v1"}
    )
    assert a != cache_key("acme/api", "main", {"package-lock.json": b"v2", "package.json": b"{}"})
    assert a != cache_key("acme/api", "dev", {"package-lock.json": b"v1", "package.json": b"{}"})
    assert "/" not in cache_key("acme/api", "feature/x y", {})


def test_saved_dependencies_come_back_in_a_new_sandbox(sandbox_manager: SandboxManager, tmp_path: Path) -> None:
    cache = DependencyCache(tmp_path / "cache", ttl_seconds=3600)
    key = cache_key("acme/api", "main", {"requirements.txt": b"six\n"})
    first = sandbox_manager.get_or_create("cache-first")
    assert not cache.restore(first, key)
    install = (
        "mkdir -p /workspace/.venv/lib /home/sandbox/.cache/pip && "
        "head -c 2000000 /dev/urandom > /workspace/.venv/lib/dep.so && echo wheel > /home/sandbox/.cache/pip/x"
    )
    assert first.exec(ExecRequest(command=install)).ok
    stored = cache.save(first, key, ["/workspace/.venv", "/home/sandbox/.cache/pip", "/workspace/not-there"])
    assert stored > 2_000_000
    checksum = first.exec(ExecRequest(command="sha256sum /workspace/.venv/lib/dep.so")).stdout

    second = sandbox_manager.get_or_create("cache-second")
    assert cache.restore(second, key)
    assert second.exec(ExecRequest(command="sha256sum /workspace/.venv/lib/dep.so")).stdout == checksum
    assert (
        second.exec(ExecRequest(command="cat /home/sandbox/.cache/pip/x; stat -c %u /workspace/.venv")).stdout
        == "wheel\n10001\n"
    )
    assert cache.stats() == {"hit": 1, "miss": 1}


def test_entries_expire_and_clear(sandbox_manager: SandboxManager, tmp_path: Path) -> None:
    cache = DependencyCache(tmp_path / "cache", ttl_seconds=60)
    box = sandbox_manager.get_or_create("cache-expiry")
    box.exec(ExecRequest(command="mkdir -p /workspace/node_modules/x && echo 1 > /workspace/node_modules/x/i.js"))
    cache.save(box, "old", ["/workspace/node_modules"])
    cache.save(box, "new", ["/workspace/node_modules"])
    old_manifest = tmp_path / "cache" / "old" / "manifest.json"
    past = time.time() - 120
    os.utime(old_manifest, (past, past))
    assert not cache.restore(box, "old"), "an expired entry is a miss"
    assert cache.expire() == 1 and not (tmp_path / "cache" / "old").exists()
    assert cache.clear() == 1 and not cache.restore(box, "new")
    with pytest.raises(ValueError):
        cache.restore(box, "../escape")


def test_look_alike_repositories_and_branches_do_not_share_entries() -> None:
    keys = {
        cache_key("foo/bar-baz", "main", {}),
        cache_key("foo-bar/baz", "main", {}),
        cache_key("foo/bar", "baz-main", {}),
        cache_key("acme/api", "feature/x", {}),
        cache_key("acme/api", "feature-x", {}),
    }
    assert len(keys) == 5
