"""Benchmark: sandbox start-up and exec latency, and a cached-dependency start against a fresh install.

    .venv/bin/python bench/sandbox_latency.py [--rounds 10] [--packages "requests rich"] [--quick]

Needs the Docker engine and the sandbox image (`dockhand image build`); the fresh install fetches
from PyPI (through DOCKHAND_SANDBOX_CA_BUNDLE's proxy where there is one). Prints:
  - cold: create a sandbox → first command finished, with unlimited volumes and with size-limited ones
    (DOCKHAND_SANDBOX_DISK_LIMIT's way on this machine: engine quota or an ext4 loop filesystem each);
  - warm: get_or_create of a live sandbox → first command finished;
  - exec round trip of `true`;
  - fresh install of the packages vs. a new sandbox restored from the dependency cache (when the install
    fails, e.g. without a registry, that row is reported as skipped with the reason, and the others still are);
beside the floors: a bare create+start of a container locked down the same way (image, read-only root, the two
volumes, tmpfs, no capabilities, pid and memory limits, no network) and a bare `docker exec` of `true` in it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker

from bench._docker import docker_missing
from bench._stats import BenchResult, latency_line, median_ms, parse_with_quick, report
from core.sandboxing import ExecRequest, SandboxPolicy, cache_key
from core.settings import Settings
from core.store.database import Database
from core.store.sandboxes import SandboxRecords
from sandbox.backend import default_policy
from sandbox.cache import DependencyCache
from sandbox.disk import SandboxDisks
from sandbox.live import SANDBOX_UID
from sandbox.manager import SandboxManager, connect_docker, lockdown

WARM = "sandbox reused → first command"
COLD = "sandbox cold → first command"
CACHED = "dependency cache restore vs fresh install (no snapshot)"  # the goal row: bench/snapshot_start.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--packages", default="requests rich pyyaml")
    args = parse_with_quick(parser, rounds=3)
    settings = Settings.load()
    missing = docker_missing(default_policy(settings).image)
    if missing:
        print(missing)
        for path in (WARM, COLD, CACHED):
            report(BenchResult(path=path, figure=None, unit="", note=missing[:80]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.migrate()
        client = connect_docker()
        unlimited = default_policy(settings).with_overrides(disk="0")
        manager = SandboxManager(client, SandboxRecords(db), unlimited, instance=f"bench{uuid.uuid4().hex[:6]}")
        limited = SandboxManager(
            client,
            SandboxRecords(db),
            default_policy(settings),
            instance=f"bench{uuid.uuid4().hex[:6]}",
            disks=SandboxDisks(client, Path(tmp) / "disks", owner_uid=SANDBOX_UID),
        )
        try:
            run(manager, limited, DependencyCache(Path(tmp) / "cache", 3600), args)
        finally:
            for owner in (manager, limited):
                for container in owner._containers():
                    owner._remove(container)


def first_command(manager: SandboxManager, sandbox_id: str) -> float:
    started = time.perf_counter()
    box = manager.get_or_create(sandbox_id)
    assert box.exec(ExecRequest(command="true")).ok
    return time.perf_counter() - started


def run(manager: SandboxManager, limited: SandboxManager, cache: DependencyCache, args: argparse.Namespace) -> None:
    cold, cold_limited = [], []
    for i in range(args.rounds):
        cold.append(first_command(manager, f"cold-{i}"))
        manager.destroy(f"cold-{i}")
        cold_limited.append(first_command(limited, f"cold-limited-{i}"))
        limited.destroy(f"cold-limited-{i}")
    manager.get_or_create("warm")
    warm = [first_command(manager, "warm") for _ in range(args.rounds * 3)]
    box = manager.get_or_create("warm")
    trips = []
    for _ in range(args.rounds * 5):
        started = time.perf_counter()
        box.exec(ExecRequest(command="true"))
        trips.append(time.perf_counter() - started)

    bare_start, bare_exec = bare_docker(manager.client, manager.policy, args.rounds)

    print(f"dockhand sandbox benchmark ({manager.policy.image})")
    print(f"  cold create → first command    {latency_line(cold)}")
    support = limited.disks.support
    way = support.mode.value + (f": {support.reason}" if support.reason else "")
    print(f"  the same, volumes limited to {limited.policy.disk} ({way})")
    print(f"                                 {latency_line(cold_limited)}")
    print(f"  warm reuse → first command     {latency_line(warm)}")
    print(f"  exec round trip (true)         {latency_line(trips)}")
    print(f"  floor: bare create+start, same lockdown  {latency_line(bare_start)}")
    print(f"  floor: bare docker exec (true), same     {latency_line(bare_exec)}")
    cached = cached_start(manager, cache, args.packages)
    rows = ((WARM, warm, bare_exec, 2.0), (COLD, cold, bare_start, 1.5))
    for path, figures, floor, times in rows:
        figure, bare = median_ms(figures), median_ms(floor)
        report(
            BenchResult(
                path=path, figure=figure, unit="ms", floor=bare, goal=f"< {times:g}x floor", ok=figure < times * bare
            )
        )
    report(cached)


def cached_start(manager: SandboxManager, cache: DependencyCache, packages: str) -> BenchResult:
    """A fresh install of the packages (from PyPI) against a new sandbox restored from the dependency cache."""
    install = f"python3 -m venv /workspace/.venv && /workspace/.venv/bin/pip install --quiet {packages}"
    check = "/workspace/.venv/bin/python -c 'import sys; print(sys.prefix)'"
    fresh_box = manager.get_or_create("fresh", manager.default_policy().with_overrides(network=True))
    started = time.perf_counter()
    result = fresh_box.exec(ExecRequest(command=f"{install} && {check}", timeout_seconds=600))
    fresh = time.perf_counter() - started
    if not result.ok:
        tail = (result.stderr.strip().splitlines() or [""])[-1]
        print(f"  fresh install failed ({result.describe()}): {result.stderr[-500:]}")
        note = f"skipped: the fresh install failed ({result.describe()}: {tail})"
        return BenchResult(path=CACHED, figure=None, unit="x", note=note[:120])
    key = cache_key("bench/repo", "main", {"requirements.txt": packages.encode()})
    cache.save(fresh_box, key, ["/workspace/.venv"])
    started = time.perf_counter()
    cached_box = manager.get_or_create("cached")
    assert cache.restore(cached_box, key)
    assert cached_box.exec(ExecRequest(command=check)).ok
    cached = time.perf_counter() - started
    print(f"  fresh install ({packages}): {fresh:.2f} s")
    print(f"  cached start (new sandbox + restore + first command): {cached:.2f} s  ({fresh / cached:.1f}x faster)")
    return BenchResult(
        path=CACHED,
        figure=round(fresh / cached, 1),
        unit="x",
        note=f"fresh {fresh:.1f} s, cached {cached:.1f} s; {packages}",
    )


def bare_docker(client: docker.DockerClient, policy: SandboxPolicy, rounds: int) -> tuple[list[float], list[float]]:
    """The floors: create+start of a container locked down as a sandbox is (the policy's image, read-only root,
    two named volumes, tmpfs, no capabilities, pid and memory limits, no network), and an exec of `true` in it;
    nothing of dockhand's (no store, no labels to find it by, no reaper process, no wrapper around the command)."""
    starts, execs = [], []
    for i in range(rounds):
        name = f"dockhand-bench-bare-{uuid.uuid4().hex[:8]}-{i}"
        volumes = (f"{name}-workspace", f"{name}-home")
        started = time.perf_counter()
        container = client.containers.create(
            image=policy.image,
            command=["sleep", "300"],
            name=name,
            **lockdown(policy, *volumes),
            network_mode="none",
            detach=True,
        )
        try:
            container.start()
            starts.append(time.perf_counter() - started)
            for _ in range(rounds * 3):
                started = time.perf_counter()
                container.exec_run(["true"])
                execs.append(time.perf_counter() - started)
        finally:
            container.remove(force=True)
            for volume in volumes:
                client.volumes.get(volume).remove(force=True)
    return starts, execs


if __name__ == "__main__":
    main()
