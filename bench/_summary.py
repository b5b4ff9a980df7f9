"""`bench/run`'s summary: the BENCH-RESULT lines of the benches' output, as one table.

Every row is path | figure | floor | ratio to floor | goal | within goal. A bench that ended badly
(crashed, failed its own checks or timed out) gets a row saying so, whatever rows it reported before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from bench._stats import RESULT_PREFIX, BenchResult

COLUMNS = ("path", "figure", "floor", "ratio to floor", "goal", "within goal")


class Verdict(StrEnum):
    YES = "yes"
    NO = "no"
    SKIPPED = "skipped"
    NO_GOAL = "-"  # a figure shown for context, judged by nothing
    FAILED = "bench failed"


@dataclass(frozen=True, kw_only=True)
class BenchRun:
    """One bench's run: its file name, exit status and stdout (None: it did not end in time)."""

    name: str
    exit_code: int | None
    output: str

    @property
    def ended_well(self) -> bool:
        return self.exit_code == 0


def results_in(output: str) -> list[BenchResult]:
    """The results a bench reported, in order (lines that are not results are the bench's own report)."""
    return [
        BenchResult(**json.loads(line.removeprefix(RESULT_PREFIX)))
        for line in output.splitlines()
        if line.startswith(RESULT_PREFIX)
    ]


def verdict(result: BenchResult) -> Verdict:
    if result.figure is None:
        return Verdict.SKIPPED
    if result.ok is None:
        return Verdict.NO_GOAL
    return Verdict.YES if result.ok else Verdict.NO


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.3g} {unit}".strip() if abs(value) < 1000 else f"{value:.0f} {unit}".strip()


def row(result: BenchResult) -> tuple[str, ...]:
    ratio = "-"
    if result.figure is not None and result.floor:
        ratio = f"{result.figure / result.floor:.2f}x"
    shown = verdict(result).value
    if result.note:
        shown += f" ({result.note})"
    return (
        result.path,
        _number(result.figure, result.unit),
        _number(result.floor, result.unit),
        ratio,
        result.goal or "-",
        shown,
    )


def rows(runs: Iterable[BenchRun]) -> list[tuple[str, ...]]:
    table = []
    for run in runs:
        reported = results_in(run.output)
        table.extend(row(result) for result in reported)
        if not run.ended_well:
            why = "did not end in time" if run.exit_code is None else f"exit status {run.exit_code}"
            table.append((f"bench/{run.name}", "-", "-", "-", "-", f"{Verdict.FAILED.value} ({why})"))
        elif not reported:
            table.append((f"bench/{run.name}", "-", "-", "-", "-", f"{Verdict.FAILED.value} (reported no result)"))
    return table


def table(runs: Iterable[BenchRun]) -> str:
    """The summary as a Markdown table (readable in a terminal, pasteable into an issue)."""
    lines = [COLUMNS, *rows(runs)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]

    def render(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([render(lines[0]), separator, *(render(line) for line in lines[1:])])
