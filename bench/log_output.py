"""Benchmark: a command's output into the task log, against the exec of the same output alone.

    .venv/bin/python bench/log_output.py [--megabytes 1] [--rounds 5] [--quick]

Runs a command printing about 1 MB of 60-character lines in a sandbox, twice: once with its output only
returned (the floor: Docker's exec and stream of 1 MB), once streamed line by line into a task's log in
SQLite through the worker's own sink (redaction, batching, inserts). Prints the medians and their ratio;
the goal is under 3x the floor. Needs Docker and the sandbox image; says so and skips without them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stats import BenchResult, report
from core.sandboxing import ExecRequest
from core.settings import Settings
from core.specs import TaskSubmission
from core.states import TaskType
from core.store.sql import open_sql_store

PATH = "1 MB output into the task log"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    from sandbox.errors import DockerUnavailableError
    from sandbox.manager import SandboxManager, connect_docker

    try:
        client = connect_docker()
    except DockerUnavailableError as exc:
        print(f"skipped: {exc}")
        report(BenchResult(path=PATH, figure=None, unit="ms", goal="< 3x floor", note="skipped: no Docker"))
        return
    from core.store.sandboxes import SandboxRecords
    from sandbox.backend import default_policy

    lines = int(args.megabytes * 1024 * 1024 / 61)
    command = f"seq -f 'line %g of the output of a command that prints a lot!!!!' 1 {lines} | cut -c1-60"
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.db")
        store = open_sql_store(settings)
        manager = SandboxManager(
            client, SandboxRecords(store.lifecycle), default_policy(settings), instance=f"bench{uuid.uuid4().hex[:6]}"
        )
        try:
            box = manager.get_or_create("log-output")
            floor, logged = [], []
            for _ in range(rounds):
                started = time.perf_counter()
                assert box.exec(ExecRequest(command=command)).ok
                floor.append(time.perf_counter() - started)
                task = store.tasks.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"})).task
                sink = store.logs.sink(task.id)
                started = time.perf_counter()
                assert box.exec(ExecRequest(command=command), output=sink.write).ok
                sink.flush()
                logged.append(time.perf_counter() - started)
                stored = len(store.logs.tail(task.id, limit=lines + 10))
                assert stored >= lines, f"{stored} of {lines} lines stored"
        finally:
            for container in manager._containers():
                manager._remove(container)
    floor_ms, logged_ms = statistics.median(floor) * 1000, statistics.median(logged) * 1000
    ratio = logged_ms / floor_ms
    print(f"{args.megabytes:g} MB ({lines} lines) of output, median of {rounds}:")
    print(f"  exec alone (floor)      {floor_ms:7.0f} ms")
    print(f"  into the task log       {logged_ms:7.0f} ms  ({ratio:.1f}x the floor; goal < 3x)")
    report(BenchResult(path=PATH, figure=logged_ms, unit="ms", floor=floor_ms, goal="< 3x floor", ok=ratio < 3))


if __name__ == "__main__":
    main()
