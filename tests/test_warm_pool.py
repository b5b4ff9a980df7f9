"""The warm pool: workspaces filled ahead from a snapshot, taken once each, never one whose disk changed
under it, refilled, bounded, reaped, counted."""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.sandboxing import ExecRequest, size_in_bytes
from sandbox.manager import LABEL_INSTANCE, SandboxManager
from sandbox.snapshots import Archive, SnapshotImages
from sandbox.warm_pool import LABEL_POOL, WarmPool
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def snapshot(sandbox_manager: SandboxManager, tmp_path: Path) -> Iterator[str]:
    """A snapshot image whose /workspace/.venv holds a marker file: a filled pair is told from an empty one."""
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "marker").write_text("from the snapshot\n")
    with tarfile.open(tmp_path / "venv.tar", "w") as tar:
        tar.add(tmp_path / "venv", arcname=".venv")
    images = SnapshotImages(
        sandbox_manager.client, tmp_path / "snapshots", instance=sandbox_manager.instance, max_bytes=2**40
    )
    made = images.build(
        key="pool-test",
        repository="o/r",
        commit="c" * 40,
        base_image=sandbox_manager.policy.image,
        archives=[Archive("/workspace/.venv", tmp_path / "venv.tar")],
    )
    sandbox_manager.policy = sandbox_manager.policy.with_overrides(image=made.image, disk="64m")
    yield made.image
    for container in sandbox_manager._containers():
        sandbox_manager._remove(container)
    images.prune(everything=True)


@pytest.fixture
def pool(sandbox_manager: SandboxManager, tmp_path: Path) -> Iterator[WarmPool]:
    made = WarmPool(
        sandbox_manager.client,
        sandbox_manager.disks,
        tmp_path / "warm-pool",
        instance=sandbox_manager.instance,
        size=1,
        instance_label=LABEL_INSTANCE,
    )
    sandbox_manager.pool = made
    yield made
    made.wait()
    made.clear()


def pool_volumes(manager: SandboxManager) -> set[str]:
    filters = {"label": [f"{LABEL_POOL}=true", f"{LABEL_INSTANCE}={manager.instance}"]}
    return {v.name for v in manager.client.volumes.list(filters=filters)}


def test_a_sandbox_takes_a_filled_workspace_and_the_pool_fills_again(
    sandbox_manager: SandboxManager, snapshot: str, pool: WarmPool
) -> None:
    first = sandbox_manager.get_or_create("first")  # nothing ready yet: a miss, and a fill starts
    assert pool.stats() == {"hit": 0, "miss": 1}
    assert first.exec(ExecRequest(command="cat /workspace/.venv/marker")).stdout == "from the snapshot\n"
    wait_for(lambda: pool.counts_ready() == 1, timeout=60, what="a workspace ready in the pool")
    offered = pool_volumes(sandbox_manager)
    assert len(offered) == 2

    second = sandbox_manager.get_or_create("second")
    assert pool.stats() == {"hit": 1, "miss": 1}
    mounted = {m["Name"] for m in second.container.attrs["Mounts"]}
    assert mounted == offered, "the sandbox mounts the pair that was ready"
    result = second.exec(ExecRequest(command="cat /workspace/.venv/marker && touch /workspace/x /home/sandbox/y"))
    assert result.ok and result.stdout == "from the snapshot\n", result
    limit = second.exec(ExecRequest(command="df -Pk /workspace | tail -n 1")).stdout.split()
    assert int(limit[1]) <= size_in_bytes("64m") // 1024, "the pair has the sandbox's disk limit"
    wait_for(lambda: pool.counts_ready() == 1, timeout=60, what="the pool filled again")

    sandbox_manager.destroy("second")  # its volumes go with it, pool-made or not
    assert not mounted & pool_volumes(sandbox_manager)


def test_a_pair_whose_disk_is_no_longer_its_own_is_never_taken(
    sandbox_manager: SandboxManager, snapshot: str, pool: WarmPool
) -> None:
    pair = pool.fill(snapshot, size_in_bytes("64m"))
    device = sandbox_manager.client.volumes.get(pair.workspace).attrs["Options"]["device"]
    subprocess.run(["losetup", "-d", device], check=True)  # as after a reboot: the number backs nothing now
    box = sandbox_manager.get_or_create("after-reboot")
    assert pool.stats()["hit"] == 0
    assert pair.workspace not in {m["Name"] for m in box.container.attrs["Mounts"]}
    assert box.exec(ExecRequest(command="cat /workspace/.venv/marker")).ok, "made afresh from the snapshot"


def test_the_pool_is_bounded_and_reaps_what_it_no_longer_offers(
    sandbox_manager: SandboxManager, snapshot: str, pool: WarmPool
) -> None:
    pool.fill(snapshot, None)
    made_again = pool.fill(snapshot, None)  # over the size of 1: the reaper removes the older one
    assert pool.reap() == 1 and pool.counts_ready() == 1
    assert pool_volumes(sandbox_manager) == {made_again.workspace, made_again.home}
    # Pairs of an image that is gone are reaped; clearing empties the pool.
    assert pool.reap(keep_images=set()) == 1 and pool_volumes(sandbox_manager) == set()
