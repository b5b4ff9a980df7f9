"""The figures every bench prints: percentiles of a list of timings."""

from __future__ import annotations

import statistics


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
