"""Benchmark: a dead worker's task taken over — three `dockhand worker` processes with the default settings on
one database (SQLite, and PostgreSQL when DOCKHAND_TEST_POSTGRES_URL is set), each with a data directory of its
own (as on separate machines: only the lease can tell that one died); the one running a task is killed with
SIGKILL, and another must take the task over and finish it.

    .venv/bin/python bench/takeover.py [--quick] [--kills 3]

The figure is the time from the killed worker's last heartbeat (its lease's expiry minus the lease, as the
database recorded it) to the next attempt's claim, also by the database's clock (median of --kills; kill →
finished printed beside it). The floor, from the same run: the lease itself, the soonest a worker that merely
stopped speaking may be declared dead. Docker is not needed (the tasks run on the host).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._backends import each_backend, fresh_database
from bench._stats import BenchResult, report
from core.models import Task
from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskType
from tests.conftest import make_settings
from tests.support.processes import dockhand_env, running
from tests.support.store import sql_core
from tests.support.waiting import wait_for

ROW = "dead worker's task taken over"
GOAL_SECONDS = 15.0
WORKERS = 3


def final(core: Core, task_id: str) -> Task | None:
    task = core.task(task_id)
    return task if task.status.is_final else None


class Machines:
    """Worker processes, each with a data directory of its own; a killed one is replaced by a new one."""

    def __init__(self, stack: ExitStack, tmp: Path, url: str) -> None:
        self.stack, self.tmp, self.url = stack, tmp, url
        self.processes: dict[int, subprocess.Popen[str]] = {}

    def start(self) -> None:
        env = dockhand_env(self.tmp / f"machine-{len(self.processes)}-{time.monotonic_ns()}", self.url)
        process = self.stack.enter_context(running(env, self.tmp, "worker", "--workers", "1"))
        self.processes[process.pid] = process

    def kill(self, pid: int) -> None:
        process = self.processes.pop(pid)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def sleeper_killed(pidfile: Path) -> Iterator[None]:
    try:
        yield
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)


def one_kill(core: Core, machines: Machines, tmp: Path, round_no: int) -> tuple[float, float]:
    """(last heartbeat → claim by another, kill → finished), in seconds."""
    marker, pidfile = tmp / f"first-attempt-{round_no}", tmp / f"sleeper-{round_no}.pid"
    command = f"if [ -e {marker} ]; then true; else touch {marker}; echo $$ > {pidfile}; sleep 300; fi"
    with sleeper_killed(pidfile):
        task = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": command})).task
        wait_for(pidfile.exists, timeout=60, what="the first attempt to start")
        time.sleep(1.0)  # a heartbeat or so into the run
        holder = int((core.task(task.id).worker_id or "").split(":")[1])
        machines.kill(holder)
        killed = time.monotonic()
        leased = core.task(task.id)  # no heartbeat can come after the kill: this is the last one's lease
        assert leased.lease_expires_at is not None
        last_heartbeat = leased.lease_expires_at - timedelta(seconds=core.settings.lease_seconds)
        done = wait_for(functools.partial(final, core, task.id), timeout=300, what="another worker to finish it")
        finished = time.monotonic() - killed
    machines.start()  # three again for the next round
    assert done is not None and done.started_at is not None and done.attempt == 2, done
    return (done.started_at - last_heartbeat).total_seconds(), finished


def measure(backend: str, tmp: Path, kills: int) -> tuple[list[float], list[float], float]:
    with fresh_database(backend, tmp) as url:
        core = sql_core(make_settings(tmp / "submitter", url, submissions_per_minute=0))
        takeovers, finishes = [], []
        try:
            with ExitStack() as stack:
                machines = Machines(stack, tmp, url)
                for _ in range(WORKERS):
                    machines.start()
                wait_for(lambda: len(core.store.workers.alive()) >= WORKERS, timeout=60, what="the workers")
                for round_no in range(kills):
                    took, finished = one_kill(core, machines, tmp, round_no)
                    print(f"  {backend} kill {round_no + 1}: taken over {took:.1f}s after the last heartbeat, "
                          f"finished {finished:.1f}s after the kill")  # fmt: skip
                    takeovers.append(took)
                    finishes.append(finished)
            # The lease the workers ran with (the default): the soonest a silent worker may be declared dead.
            return takeovers, finishes, core.settings.lease_seconds
        finally:
            core.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one kill per backend (under a minute)")
    parser.add_argument("--kills", type=int, default=None)
    args = parser.parse_args()
    kills = args.kills or (1 if args.quick else 3)
    ok = True
    for backend, tmp in each_backend("dockhand-takeover-"):
        takeovers, finishes, lease = measure(backend, tmp, kills)
        figure = statistics.median(takeovers)
        within = figure < GOAL_SECONDS and max(finishes) < 20
        ok &= within
        print(f"{backend}: taken over {figure:.1f}s after the last heartbeat (median of {kills}); lease {lease:.0f}s")
        report(
            BenchResult(
                path=ROW,
                figure=round(figure, 2),
                unit="s",
                floor=lease,
                goal=f"< {GOAL_SECONDS:.0f} s after the last heartbeat",
                ok=within,
                note=f"{backend}, {WORKERS} worker processes, kill -9 x{kills}; kill → finished "
                f"{statistics.median(finishes):.1f} s (max {max(finishes):.1f} s); floor: the lease",
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
