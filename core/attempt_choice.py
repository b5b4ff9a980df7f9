"""Choosing among several attempts at one change, by evidence, and saying why. Pure: it reads attempt reports.

The order (the first difference decides): its reproduction passes, all tests pass, no new failures, higher diff
coverage, smaller diff, fewer findings of dockhand's own review; a tie goes to the cheaper attempt. Only an attempt
whose change was checked and taken ("ready") can be offered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.errors import ValidationError
from core.models import Task
from core.results import AnyResult, AttemptReport, IssueResolutionResult, result_of


@dataclass(frozen=True)
class Criterion:
    """One rung of the order: a key (lower is better) and how to say an attempt is better by it."""

    key: Callable[[AttemptReport], float]
    says: Callable[[AttemptReport, AttemptReport], str]


CRITERIA = (
    Criterion(lambda a: 0 if a.reproduced else 1, lambda a, b: "its reproduction passes"),
    Criterion(
        lambda a: 0 if a.tests in ("passed", "not run") else 1, lambda a, b: f"its tests pass ({b.tests} in {b.number})"
    ),
    Criterion(lambda a: a.new_failures, lambda a, b: f"no new failures ({b.new_failures} in {b.number})"),
    Criterion(
        lambda a: -(a.diff_coverage if a.diff_coverage is not None else -1),
        lambda a, b: f"higher diff coverage ({_percent(a.diff_coverage)} vs {_percent(b.diff_coverage)})",
    ),
    Criterion(lambda a: a.size, lambda a, b: f"a smaller diff ({_size(a)} vs {_size(b)} in {b.number})"),
    Criterion(lambda a: a.findings, lambda a, b: f"fewer self-review findings ({a.findings} vs {b.findings})"),
    Criterion(lambda a: a.cost_usd, lambda a, b: f"cheaper (${a.cost_usd:.2f} vs ${b.cost_usd:.2f})"),
)


def order(attempts: list[AttemptReport]) -> list[AttemptReport]:
    """The ready attempts, best first (equal ones by number)."""
    ready = [a for a in attempts if a.ready]
    return sorted(ready, key=lambda a: (*(c.key(a) for c in CRITERIA), a.number))


def pick(attempts: list[AttemptReport]) -> tuple[AttemptReport | None, str]:
    """The attempt to offer and why (None: no attempt produced a checked change)."""
    ranked = order(attempts)
    if not ranked:
        return None, "no attempt produced a change whose checks pass"
    best = ranked[0]
    reasons = [_beats(best, other) for other in ranked[1:]]
    others = [f"attempt {a.number} {a.status}" for a in attempts if not a.ready]
    said = [f"over attempt {other.number}: {why}" for other, why in zip(ranked[1:], reasons, strict=True)]
    if others:
        said.append(", ".join(others))
    evidence = "reproduced, " if best.reproduced else ""
    return best, f"attempt {best.number} ({evidence}tests {best.tests})" + (f"; {'; '.join(said)}" if said else "")


def _beats(best: AttemptReport, other: AttemptReport) -> str:
    for criterion in CRITERIA:
        if criterion.key(best) != criterion.key(other):
            return criterion.says(best, other)
    return "equal evidence; the lower number"


def attempts_table(attempts: list[AttemptReport], picked: int | None) -> list[str]:
    """A compact fixed-width table: one row per attempt, the picked one marked."""
    rows = [("attempt", "status", "tests", "repro", "coverage", "size", "findings", "cost")]
    for a in attempts:
        mark = " *" if a.number == picked else ""
        repro = {True: "yes", False: "no", None: "-"}[a.reproduced]
        size = _size(a) if a.ready else "-"
        cells = (f"{a.number}{mark}", a.status, a.tests, repro, _percent(a.diff_coverage), size, str(a.findings))
        rows.append((*cells, f"${a.cost_usd:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _size(attempt: AttemptReport) -> str:
    return f"+{attempt.insertions} -{attempt.deletions}"


def check_pickable(result: AnyResult, number: int) -> None:
    """Refuse a pick by hand of an attempt that has no change to publish (or a task that ran no attempts)."""
    attempts = result.attempts if isinstance(result, IssueResolutionResult) else []
    ready = [a.number for a in attempts if a.ready]
    if not attempts:
        raise ValidationError("this task ran one attempt: there is no other to pick")
    if number not in ready:
        raise ValidationError(f"attempt {number} has no change to publish; these do: {', '.join(map(str, ready))}")


def other_attempts(task: Task) -> list[int]:
    """The attempts of a task that a person may publish instead of the one dockhand picked."""
    result = result_of(task)
    if not isinstance(result, IssueResolutionResult) or result.picked is None:
        return []
    return [a.number for a in result.attempts if a.ready and a.number != result.picked.attempt]
