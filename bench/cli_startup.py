"""Benchmark: how long the command line takes to answer `dockhand --help` and `dockhand --version`.

    .venv/bin/python bench/cli_startup.py [--runs 10] [--quick]

Runs the installed entry point (`.venv/bin/dockhand`) as a person would, and prints the median and the
slowest of the runs for each, beside the floor: the same interpreter starting and doing nothing
(`python -c pass`). The goal is under 0.5 s for `--help`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._floors import python_start_seconds
from bench._stats import BenchResult, parse_with_quick, report

ROOT = Path(__file__).resolve().parent.parent
DOCKHAND = ROOT / ".venv" / "bin" / "dockhand"
GOAL_SECONDS = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parse_with_quick(parser, runs=3)
    floor = python_start_seconds(args.runs)
    print(f"floor: python -c pass     median {floor * 1000:5.0f} ms")
    medians = {}
    for command in (["--help"], ["--version"], ["tasks", "--help"]):
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run([str(DOCKHAND), *command], capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        shown = " ".join(command)
        medians[shown] = statistics.median(times)
        print(f"dockhand {shown:<14} median {medians[shown] * 1000:5.0f} ms, max {max(times) * 1000:5.0f} ms")
    report(
        BenchResult(
            path="dockhand --help",
            figure=round(medians["--help"], 3),
            unit="s",
            floor=round(floor, 3),
            goal=f"< {GOAL_SECONDS:g} s",
            ok=medians["--help"] < GOAL_SECONDS,
            note=f"median of {args.runs}",
        )
    )


if __name__ == "__main__":
    main()
