"""Benchmark: the test pipeline's own overhead, against the same project's commands run by hand.

    .venv/bin/python bench/pipeline_overhead.py [--only NAME ...] [--runs 3]

For each project (by default the fast subset of tests/realworld/corpus.toml: a unittest/pytest sdist
or two, an npm tarball, a Go and a Rust package), three times, median:

- **by hand**: the project's documented install (with network) and test command (without), each in a
  plain `docker run` of the sandbox image on a fresh unpacked copy — what tests/realworld/ground_truth.py
  does to record the truth;
- **dockhand**: `dockhand run test <dir> --json --force` on a fresh copy with a fresh data directory
  (an empty dependency cache, so it installs too), wall time of the whole CLI, and the split it reports
  in `timings`: the projects' own install and test commands, and everything else (checkout, sandbox,
  detection, cache, reports).

Prints both, their ratio (the goal is at most 1.2) and dockhand's own overhead in seconds. dockhand's
commands are its reading of the project's declaration, not byte-for-byte the hand-written ones (it adds
a JUnit report and coverage), so the ratio also shows what those cost. Needs Docker, the sandbox image
and the registries.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.realworld.corpus import Project, load, unpack
from tests.realworld.ground_truth import SANDBOX_UID
from tests.realworld.measure import DOCKHAND, TIMEOUT_SECONDS, dockhand_env

DEFAULT = ("itsdangerous", "exceptiongroup", "xtend", "shlex", "xxhash")
IMAGE = os.environ.get("DOCKHAND_SANDBOX_IMAGE", "dockhand-sandbox:latest")


@dataclass(frozen=True)
class Timing:
    by_hand: float
    dockhand: float
    commands: float
    overhead: float


def by_hand(project: Project, workdir: Path) -> float:
    folder = unpack(project, workdir)
    subprocess.run(["chown", "-R", f"{SANDBOX_UID}:{SANDBOX_UID}", str(folder)], check=False)
    started = time.monotonic()
    for command, network in ((project.install, True), (project.test, False)):
        args = ["docker", "run", "--rm", "-v", f"{folder}:/workspace", "-w", "/workspace"]
        args += [] if network else ["--network", "none"]
        subprocess.run([*args, IMAGE, "bash", "-c", command], capture_output=True, check=False, timeout=TIMEOUT_SECONDS)
    return time.monotonic() - started


def with_dockhand(project: Project, workdir: Path) -> tuple[float, float, float]:
    folder = unpack(project, workdir / "tree")
    env = dockhand_env() | {"DOCKHAND_DATA_DIR": str(workdir / "state")}
    started = time.monotonic()
    done = subprocess.run(
        [str(DOCKHAND), "run", "test", str(folder), "--json", "--force"],
        capture_output=True, text=True, env=env, check=False, timeout=TIMEOUT_SECONDS,
    )  # fmt: skip
    seconds = time.monotonic() - started
    try:
        took = json.loads(done.stdout)["timings"]
    except (ValueError, KeyError, TypeError):
        sys.exit(f"{project.name}: dockhand gave no timings: {(done.stderr or done.stdout)[-500:]}")
    return seconds, float(took["commands_seconds"]), float(took["overhead_seconds"])


def measure(project: Project, runs: int) -> Timing:
    hand, ours, commands, overhead = [], [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="dockhand-overhead-") as tmp:
            hand.append(by_hand(project, Path(tmp) / "hand"))
            seconds, own, rest = with_dockhand(project, Path(tmp))
            ours.append(seconds)
            commands.append(own)
            overhead.append(rest)
    median = statistics.median
    return Timing(median(hand), median(ours), median(commands), median(overhead))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="this project (repeatable)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    names = args.only or list(DEFAULT)
    projects = [p for p in load() if p.name in names]
    print(f"{'project':<18} {'kind':<7} {'by hand':>8} {'dockhand':>9} {'ratio':>6} {'commands':>9} {'overhead':>9}")
    ratios = []
    for project in projects:
        t = measure(project, args.runs)
        ratios.append(t.dockhand / t.by_hand)
        print(
            f"{project.name:<18} {project.kind:<7} {t.by_hand:7.1f}s {t.dockhand:8.1f}s {ratios[-1]:5.2f}x "
            f"{t.commands:8.1f}s {t.overhead:8.1f}s",
            flush=True,
        )
    if ratios:
        print(f"median ratio {statistics.median(ratios):.2f}x (goal ≤ 1.2x), medians of {args.runs} runs each")


if __name__ == "__main__":
    main()
