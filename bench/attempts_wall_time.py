"""Benchmark: the wall time of a resolution with 3 attempts against 1, when the model is the bottleneck.

    .venv/bin/python bench/attempts_wall_time.py [--runs 2] [--model-seconds 2.0] [--attempts 3] [--quick]

Each run resolves the same issue (a repository whose `add()` subtracts, with a failing test) through the whole
pipeline: the fake GitHub on loopback, a bare git repository as the remote, the Docker sandbox backend, SQLite.
The Messages API is the fake Anthropic on loopback, answering every request after --model-seconds (a model's
think time): each attempt reads the file, edits it, runs the tests and submits (4 turns), so one attempt spends
about 4 times --model-seconds waiting for the model. Reproduce-first and self-review are off, so every attempt makes
the same number of model calls. The attempts run at once (DOCKHAND_WORKERS is set to the number of attempts);
each further attempt first opens its own sandbox and installs the project from the dependency cache.

Prints per run: the task's wall time (submission to the approval request) and its agent stage; then the p50 of
each and the ratio of N attempts to 1 (the target: at most 1.5 when the model is the bottleneck). Reports two rows,
the wall time and the agent stage of N attempts, each beside the same of 1 attempt in the same run as its floor.
Needs the Docker engine and the sandbox image; without them it says so and reports its rows as skipped. The exit
status is 1 when a run does not end waiting for approval or the picked attempt is missing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._docker import docker_missing
from bench._stats import BenchResult, parse_with_quick, report
from bench.review_latency import build_image
from bot.github.forge import attach_github_pipelines
from core.settings import Settings
from core.specs import TaskSubmission
from core.states import TaskStatus, TaskType, TriggerSource
from sandbox.backend import dependency_cache, docker_backend
from tests.support.fake_anthropic import Body, Reply, running_fake_anthropic, tool_use
from tests.support.fake_github import FakeGitHub, running_fake_github
from tests.support.store import sql_core
from tests.test_issue_resolution import FILES, ISSUE, REPO, edit

GOAL = 1.5  # N attempts' time over 1's, when the model is the bottleneck


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def remote(tmp: Path) -> str:
    seed = tmp / "seed"
    for name, content in FILES.items():
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        (seed / name).write_text(content)
    git("init", "-q", "-b", "main", cwd=seed)
    git("add", "-A", cwd=seed)
    git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "seed", cwd=seed)
    (tmp / "git" / "acme").mkdir(parents=True)
    git("clone", "-q", "--bare", str(seed), str(tmp / "git" / "acme" / "calc.git"), cwd=tmp)
    return f"file://{tmp / 'git'}/"


def thinking_model(seconds: float) -> Any:
    """A step that waits like a model, then answers from the turn's place in its own conversation."""
    turns = [
        Reply([tool_use("bash", {"command": "cat calc.py"})]),
        Reply([tool_use("str_replace_based_edit_tool", edit("a - b", "a + b"))]),
        Reply([tool_use("bash", {"command": ".venv/bin/python -m pytest -q -p no:cacheprovider"})]),
        Reply([tool_use("submit", {"title": "Fix add()", "body": "add() adds."})]),
    ]

    def step(body: Body) -> Reply:
        time.sleep(seconds)
        assistant_turns = sum(1 for m in body["messages"] if m["role"] == "assistant")
        return turns[min(assistant_turns, len(turns) - 1)]

    return step


def one_run(tmp: Path, image: str, attempts: int, model_seconds: float) -> tuple[float, float, bool]:
    github = FakeGitHub()
    github.add_repo(REPO)
    github.issues[(REPO, ISSUE)] = {"title": "add() subtracts", "body": "add(2, 3) is -1", "user": {"login": "a"}}
    with running_fake_github(github) as (_, github_url), running_fake_anthropic() as (model, model_url):
        model.script = [thinking_model(model_seconds)] * (8 * attempts)
        settings = Settings.load(
            _env_file=None,
            data_dir=tmp / "data",
            database_url=f"sqlite:///{tmp / 'data' / 'dockhand.db'}",
            github_token="ghp_fake_token",
            github_api_url=github_url,
            github_git_url=remote(tmp),
            anthropic_api_key="sk-ant-test",
            anthropic_base_url=model_url,
            sandbox_image=image,
            workers=max(attempts, 2),
            agent_attempts_max=attempts,
            agent_reproduce_first=False,
            agent_self_review=False,
        )
        cache = dependency_cache(settings)
        core = sql_core(settings, sandboxes=lambda index: docker_backend(settings, index, cache), caches=[cache])
        try:
            attach_github_pipelines(core)
            submission = TaskSubmission(
                type=TaskType.ISSUE_RESOLUTION,
                repository=REPO,
                payload={"issue_number": ISSUE, "attempts": attempts},
                trigger_source=TriggerSource.CLI,
                triggered_by="bench",
                max_retries=0,
            )
            started = time.perf_counter()
            task = core.run_now(core.submit(submission).task.id)
            wall = time.perf_counter() - started
            agent = next(s for s in core.stages.list(task.id) if s.name == "agent")
            ok = task.status is TaskStatus.AWAITING_APPROVAL and (attempts == 1 or "picked" in (task.result or {}))
            if not ok:
                print(f"    run failed: {task.status.value}: {task.error}", file=sys.stderr)
            return wall, float(agent.duration_seconds or 0.0), ok and not model.errors
        finally:
            core.stop(grace_seconds=5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--model-seconds", type=float, default=2.0)
    parser.add_argument("--attempts", type=int, default=3)
    args = parse_with_quick(parser, runs=1, model_seconds=1.0)
    paths = {part: f"{args.attempts} attempts vs 1: {part}" for part in ("wall time", "agent stage")}
    missing = docker_missing()
    if missing:
        print(missing)
        for path in paths.values():
            report(BenchResult(path=path, figure=None, unit="s", goal=f"< {GOAL:g}x floor", note=missing[:80]))
        return 0
    image, took = build_image()
    print(f"sandbox image {image} ready in {took:.1f}s; model think time {args.model_seconds:.1f}s per turn")
    figures: dict[int, list[tuple[float, float]]] = {1: [], args.attempts: []}
    ok = True
    # A first run warms the dependency cache and the host's git mirror; it is not counted.
    plan = [(1, False)] + [(n, True) for _ in range(args.runs) for n in (args.attempts, 1)]
    for attempts, counted in plan:
        with tempfile.TemporaryDirectory(prefix="dockhand-bench-") as tmp:
            wall, agent, fine = one_run(Path(tmp), image, attempts, args.model_seconds)
        ok &= fine
        said = f"  {attempts} attempt(s): wall {wall:6.1f}s   agent stage {agent:6.1f}s"
        print(said + ("" if counted else "  (warm-up)"))
        if counted:
            figures[attempts].append((wall, agent))
    one_wall = statistics.median(w for w, _ in figures[1])
    one_agent = statistics.median(a for _, a in figures[1])
    many_wall = statistics.median(w for w, _ in figures[args.attempts])
    many_agent = statistics.median(a for _, a in figures[args.attempts])
    print(f"p50 1 attempt: wall {one_wall:.1f}s, agent {one_agent:.1f}s")
    print(f"p50 {args.attempts} attempts: wall {many_wall:.1f}s, agent {many_agent:.1f}s")
    print(f"ratio {args.attempts} attempts / 1: wall {many_wall / one_wall:.2f}x, agent {many_agent / one_agent:.2f}x")
    print(f"threads at the end: {threading.active_count()}")
    note = f"floor: 1 attempt; model {args.model_seconds:g} s a turn; p50 of {args.runs}"
    for part, many, one in (("wall time", many_wall, one_wall), ("agent stage", many_agent, one_agent)):
        report(
            BenchResult(
                path=paths[part],
                figure=round(many, 2),
                unit="s",
                floor=round(one, 2),
                goal=f"< {GOAL:g}x floor",
                ok=many < GOAL * one,
                note=note,
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
