"""The warm pool: workspaces filled ahead from an image, taken once each, refilled, reaped, counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.sandboxing import ExecRequest
from sandbox.manager import LABEL_INSTANCE, SandboxManager
from sandbox.warm_pool import LABEL_POOL, WarmPool
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


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
    made.clear()


def pool_volumes(manager: SandboxManager) -> set[str]:
    filters = {"label": [f"{LABEL_POOL}=true", f"{LABEL_INSTANCE}={manager.instance}"]}
    return {v.name for v in manager.client.volumes.list(filters=filters)}


def test_a_sandbox_takes_a_ready_workspace_and_the_pool_fills_again(
    sandbox_manager: SandboxManager, pool: WarmPool
) -> None:
    first = sandbox_manager.get_or_create("first")  # nothing ready yet: a miss, and a fill starts
    assert pool.stats() == {"hit": 0, "miss": 1}
    assert not any("-pool-" in m["Name"] for m in first.container.attrs["Mounts"])
    wait_for(lambda: pool.counts_ready() == 1, timeout=60, what="a workspace ready in the pool")
    offered = pool_volumes(sandbox_manager)
    assert len(offered) == 2

    second = sandbox_manager.get_or_create("second")
    assert pool.stats() == {"hit": 1, "miss": 1}
    mounted = {m["Name"] for m in second.container.attrs["Mounts"]}
    assert mounted == offered, "the sandbox mounts the pair that was ready"
    result = second.exec(ExecRequest(command="touch /workspace/x /home/sandbox/y && id -u && ls -A /workspace"))
    assert result.ok and result.stdout.split() == ["10001", "x"], result
    wait_for(lambda: pool.counts_ready() == 1, timeout=60, what="the pool filled again")

    sandbox_manager.destroy("second")  # its volumes go with it, pool-made or not
    assert not mounted & pool_volumes(sandbox_manager)


def test_the_pool_is_bounded_and_reaps_what_it_no_longer_offers(
    sandbox_manager: SandboxManager, pool: WarmPool
) -> None:
    image = sandbox_manager.policy.image
    pool.fill(image, None)
    made_again = pool.fill(image, None)  # over the size of 1: the reaper removes the older one
    assert pool.reap() == 1 and pool.counts_ready() == 1
    # A crash between making a pair and offering it leaves volumes no marker offers: reaped too.
    sandbox_manager.disks.create(
        f"dockhand-{sandbox_manager.instance}-pool-crashed-workspace",
        {LABEL_POOL: "true", LABEL_INSTANCE: sandbox_manager.instance},
        None,
    )
    pool.reap()
    assert pool_volumes(sandbox_manager) == {made_again.workspace, made_again.home}
    # Pairs of an image that is gone are reaped; clearing empties the pool.
    assert pool.reap(keep_images=set()) == 1 and pool_volumes(sandbox_manager) == set()
