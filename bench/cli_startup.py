"""Benchmark: how long the command line takes to answer `dockhand --help` and `dockhand --version`.

    .venv/bin/python bench/cli_startup.py [--runs 10] [--quick]

Runs the installed entry point (`.venv/bin/dockhand`) as a person would, and prints the median and the
slowest of the runs for each, beside the floor: a bare `python -c pass` of the same venv, in the same run.
The goal is under 0.5 s for `--help` (the row "dockhand --help" of bench/run's summary).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._startup import bare_python_seconds, runs_argument
from bench._stats import BenchResult, report

DOCKHAND = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "dockhand"
GOAL_SECONDS = 0.5


def main() -> None:
    runs = runs_argument(__doc__ or "", default=10)
    floor = bare_python_seconds(runs)
    print(f"{'python -c pass (floor)':<29} median {floor * 1000:5.0f} ms")
    medians: dict[str, float] = {}
    for command in (["--help"], ["--version"], ["tasks", "--help"]):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([str(DOCKHAND), *command], capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        shown = " ".join(command)
        medians[shown] = statistics.median(times)
        print(f"dockhand {shown:<20} median {medians[shown] * 1000:5.0f} ms, max {max(times) * 1000:5.0f} ms")
    figure = medians["--help"]
    report(
        BenchResult(
            path="dockhand --help",
            figure=round(figure * 1000, 1),
            unit="ms",
            floor=round(floor * 1000, 1),
            goal=f"< {GOAL_SECONDS * 1000:.0f} ms",
            ok=figure < GOAL_SECONDS,
            note=f"median of {runs}; floor: python -c pass",
        )
    )


if __name__ == "__main__":
    main()
