"""Benchmark: task start → first test command, from a cold install, the dependency cache and a snapshot.

    .venv/bin/python bench/snapshot_start.py [--packages "requests rich httpx jinja2 click pyyaml"] [--quick]

A git repository with a Python project whose requirements.txt pulls in a few dozen packages (with their
own dependencies) is tested three times by the real test pipeline, in this process, on one data directory:
  1. cold: on the default branch with an empty cache: a fresh `pip install` from the package index; the
     dependency cache is saved and the repository's snapshot is made in the background;
  2. cache: again on the default branch with snapshots off: the dependencies come from the cache;
  3. snapshot: on another branch with the same requirements: the sandbox starts from the snapshot.
The figure of each is from the task's start (its claim) to the start of its test stage (the first test
command), taken from the task's own stage records. Rows: the snapshot start against the cold install
(goal: at least 10x faster) and the cache against the cold install. Needs Docker, the sandbox image and
the package index (through DOCKHAND_SANDBOX_CA_BUNDLE's proxy where there is one); skips without them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._docker import docker_missing
from bench._stats import BenchResult, parse_with_quick, report

PATH = "cached deps vs fresh install: task start → first test command, snapshot vs cold"
CACHE_PATH = "task start → first test command, dependency cache vs cold install"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", default="requests rich httpx jinja2 click pyyaml pygments markdown-it-py")
    args = parse_with_quick(parser, packages="requests rich httpx jinja2 click")
    missing = docker_missing()
    if missing:
        print(missing)
        skipped(missing)
        return
    with tempfile.TemporaryDirectory(prefix="dockhand-bench-") as tmp:
        measure(Path(tmp), args.packages.split())


def measure(tmp: Path, packages: list[str]) -> None:
    from core.pipelines.snapshot_use import wait_for_builds
    from core.settings import Settings
    from sandbox.backend import dependency_cache, docker_backend
    from tests.support.store import sql_core

    repo = make_repo(tmp / "repo", packages)
    ca = Path("/etc/ssl/certs/ca-certificates.crt")
    settings = Settings.load(
        _env_file=None,
        data_dir=tmp / "data",
        database_url=f"sqlite:///{tmp / 'dockhand.db'}",
        sandbox_ca_bundle=ca if ca.exists() else None,
        sandbox_disk_limit="0",
    )
    cache = dependency_cache(settings)
    core = sql_core(settings, sandboxes=lambda index: docker_backend(settings, index, cache), caches=[cache])
    try:
        cold = run(core, repo, {})
        if cold[1] != "miss" or cold[0] is None:
            note = f"skipped: the fresh install did not succeed ({cold[2]}); is the package index reachable?"
            print(note)
            skipped(note)
            return
        wait_for_builds()
        core.settings.snapshots = False
        cached = run(core, repo, {"force": True})
        core.settings.snapshots = True
        git(repo, "checkout", "-qb", "feature")
        (repo / "app.py").write_text("def answer():\n    return 42\n")
        git(repo, "commit", "-qam", "a change")
        snap = run(core, repo, {"ref": "feature"})
    finally:
        wait_for_builds()
        pool = getattr(core.sandboxes, "pool", None)
        if pool is not None:
            pool.wait()
        core.stop()
        for cache in core.caches:  # the snapshots and the warm pool's workspaces too
            cache.clear()
    rows = {"cold install": cold, "dependency cache": cached, "snapshot": snap}
    print(f"{len(packages)} requirements ({' '.join(packages)}); task start → first test command:")
    for name, (seconds, source, _) in rows.items():
        shown = f"{seconds:6.2f} s" if seconds is not None else "  n/a"
        print(f"  {name:<18} {shown}  (dependencies: {source})")
    for path, (seconds, source, _), goal in ((PATH, snap, 10.0), (CACHE_PATH, cached, None)):
        ratio = cold[0] / seconds if seconds else None
        report(
            BenchResult(
                path=path,
                figure=round(ratio, 1) if ratio else None,
                unit="x",
                goal=f">= {goal:g}x" if goal else "",
                ok=(ratio >= goal) if (ratio and goal) else None,
                note=f"cold {cold[0]:.2f} s, this {seconds:.2f} s ({source})" if seconds else f"dependencies: {source}",
            )
        )


def run(core, repo: Path, payload: dict) -> tuple[float | None, str | None, str]:  # type: ignore[no-untyped-def]
    """(claim → test stage start in seconds, where the dependencies came from, the task's error)."""
    from core.specs import TaskSubmission
    from core.states import TaskType, TriggerSource

    submission = TaskSubmission(
        type=TaskType.TEST_PIPELINE,
        payload={"source": str(repo), **payload},
        trigger_source=TriggerSource.CLI,
        max_retries=0,
    )
    task = core.run_now(core.submit(submission).task.id)
    detail = core.task_detail(task.id)
    test = next((s for s in detail.stages if s.name == "test" and s.started_at), None)
    first = min((s.started_at for s in detail.stages if s.started_at), default=None)
    projects = (task.result or {}).get("projects") or [{}]
    stages = ", ".join(f"{s.name} {s.duration_seconds or 0:.2f}s" for s in detail.stages)
    print(f"  ({projects[0].get('cache')}: {stages})")
    seconds = (test.started_at - first).total_seconds() if test and first else None
    return seconds, projects[0].get("cache"), task.error or ""


def make_repo(root: Path, packages: list[str]) -> Path:
    root.mkdir(parents=True)
    (root / "requirements.txt").write_text("\n".join(packages) + "\npytest\n")
    (root / "app.py").write_text("def answer():\n    return 41 + 1\n")
    (root / "test_app.py").write_text("from app import answer\n\n\ndef test_answer():\n    assert answer() == 42\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    return root


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", *args], check=True)


def skipped(note: str) -> None:
    for path in (PATH, CACHE_PATH):
        report(BenchResult(path=path, figure=None, unit="x", goal=">= 10x" if path == PATH else "", note=note))


if __name__ == "__main__":
    main()
