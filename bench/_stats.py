"""The figures every bench prints: percentiles of a list of timings."""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict, dataclass


def percentile(ordered: list[float], q: float) -> float:
    """The `q` quantile (0..1) of sorted values, by nearest rank."""
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency_line(seconds: list[float], decimals: int = 1) -> str:
    """`p50 … p95 … p99 … max … (n=…)` in milliseconds."""
    if not seconds:
        return "n/a"
    ordered = sorted(seconds)
    width = 6 + decimals

    def ms(value: float) -> str:
        return f"{value * 1000:{width}.{decimals}f} ms"

    return (
        f"p50 {ms(statistics.median(ordered))}   p95 {ms(percentile(ordered, 0.95))}   "
        f"p99 {ms(percentile(ordered, 0.99))}   max {ms(ordered[-1])}   (n={len(ordered)})"
    )


@dataclass(frozen=True, kw_only=True)
class BenchResult:
    """One row of `bench/run`'s summary: a figure beside the floor of the same machine in the same run.

    `ok` is whether the figure is within its goal (None: no goal); `figure` None: skipped, `note` says why.
    """

    path: str  # what was measured, e.g. "sandbox reused → first command"
    figure: float | None  # None when skipped
    unit: str  # "ms", "s", "x" (a ratio) …
    floor: float | None = None  # the same machine's floor for this path, in `unit`
    goal: str = ""  # human-readable, e.g. "< 2x floor"
    ok: bool | None = None
    note: str = ""  # e.g. why it was skipped


RESULT_PREFIX = "BENCH-RESULT "


def report(result: BenchResult) -> None:
    """Print a result as one machine-readable line (bench/run collects them) after the bench's own output."""
    print(RESULT_PREFIX + json.dumps(asdict(result), ensure_ascii=False), flush=True)


def parse_with_quick(parser: argparse.ArgumentParser, **quick_sizes: object) -> argparse.Namespace:
    """Parse the bench's arguments, with `--quick`: the small sizes `bench/run` uses (explicit options still win)."""
    shown = ", ".join(f"--{name.replace('_', '-')} {value}" for name, value in quick_sizes.items())
    parser.add_argument("--quick", action="store_true", help=f"small sizes, as bench/run runs it ({shown})")
    args = parser.parse_args()
    if args.quick:
        parser.set_defaults(**quick_sizes)
        args = parser.parse_args()
    return args


def median_ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 2)


def p99_ms(seconds: list[float]) -> float:
    return round(percentile(sorted(seconds), 0.99) * 1000, 2)
