"""Benchmark: `dockhand run test` on a commit it has tested already (its stored result reused).

    .venv/bin/python bench/stored_result.py [--runs 5] [--quick]

Runs the bundled example once (installs and tests, in Docker), then --runs more times: each of those
finds the stored result and reuses it. Prints the median wall time of the whole command beside the floor,
a bare `python -c pass` of the same venv measured in the same run (row "stored result reused"; goal
< 0.5 s). Needs Docker and the sandbox image; says so and reports a skipped row without them.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._startup import bare_python_seconds, runs_argument
from bench._stats import BenchResult, report

ROOT = Path(__file__).resolve().parent.parent
DOCKHAND = ROOT / ".venv" / "bin" / "dockhand"
EXAMPLE = ROOT / "examples" / "python-calculator"
PATH = "stored result reused"
GOAL_SECONDS = 0.5


def run_test(env: dict[str, str]) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(DOCKHAND), "run", "test", str(EXAMPLE), "--json"], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    try:
        return seconds, json.loads(done.stdout)
    except ValueError:
        sys.exit(f"dockhand run test gave no result: {(done.stderr or done.stdout)[-800:]}")


def main() -> None:
    runs = runs_argument(__doc__ or "", default=5)
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        print("skipped: Docker is not available")
        report(BenchResult(path=PATH, figure=None, unit="ms", note="skipped: no Docker"))
        return
    data_dir = Path(tempfile.mkdtemp(prefix="dockhand-stored-result-"))
    try:
        env = os.environ | {"DOCKHAND_DATA_DIR": str(data_dir)}
        env.pop("DOCKHAND_DATABASE_URL", None)
        first, result = run_test(env)
        print(f"first run (install and test)        {first:7.2f} s, {result['status']}")
        times = []
        for _ in range(runs):
            seconds, again = run_test(env)
            if again.get("reused_from") != result["task_id"]:
                sys.exit(f"the stored result was not reused: {again}")
            times.append(seconds)
        floor = bare_python_seconds(runs)
        figure = statistics.median(times)
        print(f"python -c pass (floor)              {floor * 1000:7.0f} ms")
        shown = ", ".join(f"{t * 1000:.0f}" for t in times)
        print(f"run test, stored result reused      {figure * 1000:7.0f} ms (median of {runs}: {shown} ms)")
        report(
            BenchResult(
                path=PATH,
                figure=round(figure * 1000, 1),
                unit="ms",
                floor=round(floor * 1000, 1),
                goal=f"< {GOAL_SECONDS * 1000:.0f} ms",
                ok=figure < GOAL_SECONDS,
                note=f"dockhand run test, whole command; median of {runs}; floor: python -c pass",
            )
        )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
