"""Benchmark: how long the command line takes to answer `dockhand --help` and `dockhand --version`.

    .venv/bin/python bench/cli_startup.py [--runs 10]

Runs the installed entry point (`.venv/bin/dockhand`) as a person would, and prints the median and the
slowest of the runs for each. The goal is under 0.5 s for `--help`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

DOCKHAND = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "dockhand"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    for command in (["--help"], ["--version"], ["tasks", "--help"]):
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run([str(DOCKHAND), *command], capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        shown = " ".join(command)
        print(f"dockhand {shown:<14} median {statistics.median(times) * 1000:5.0f} ms, max {max(times) * 1000:5.0f} ms")


if __name__ == "__main__":
    main()
