"""The order attempts are picked in, rung by rung, and what is said about it."""

from __future__ import annotations

from typing import Any

import pytest

from core.attempt_choice import attempts_table, check_pickable, order, pick
from core.errors import ValidationError
from core.results import AttemptReport, IssueResolutionResult, PRReviewResult


def attempt(number: int, **evidence: Any) -> AttemptReport:
    fields: dict[str, Any] = {"status": "ready", "reproduced": True, "tests": "passed", "insertions": 1, "deletions": 1}
    return AttemptReport(number=number, **(fields | evidence))


@pytest.mark.parametrize(
    ("better", "worse", "said"),
    [
        ({"reproduced": True, "insertions": 50}, {"reproduced": False}, "its reproduction passes"),
        ({"reproduced": True, "insertions": 50}, {"reproduced": None}, "its reproduction passes"),
        ({"tests": "passed", "insertions": 50}, {"tests": "failed"}, "its tests pass (failed in"),
        ({"new_failures": 0, "insertions": 50}, {"new_failures": 2}, "no new failures (2 in"),
        ({"diff_coverage": 90.0, "insertions": 50}, {"diff_coverage": 40.0}, "higher diff coverage (90% vs 40%)"),
        ({"diff_coverage": 10.0, "insertions": 50}, {"diff_coverage": None}, "higher diff coverage (10% vs -)"),
        ({"insertions": 2, "findings": 5}, {"insertions": 9}, "a smaller diff (+2 -1 vs +9 -1 in"),
        ({"findings": 0, "cost_usd": 9.0}, {"findings": 3}, "fewer self-review findings (0 vs 3)"),
        ({"cost_usd": 0.10}, {"cost_usd": 0.30}, "cheaper ($0.10 vs $0.30)"),
    ],
)
def test_each_rung_decides_before_the_ones_below_it(better: dict[str, Any], worse: dict[str, Any], said: str) -> None:
    # The worse one comes first, so the order, not the numbering, decides.
    chosen, reason = pick([attempt(1, **worse), attempt(2, **better)])
    assert chosen is not None and chosen.number == 2
    assert f"over attempt 1: {said}" in reason


def test_only_a_ready_attempt_is_picked_and_equal_ones_go_by_number() -> None:
    failed = attempt(1, status="gave-up", tests="failed", insertions=0, deletions=0)
    assert pick([failed]) == (None, "no attempt produced a change whose checks pass")
    chosen, reason = pick([failed, attempt(3), attempt(2)])
    assert chosen is not None and chosen.number == 2
    assert "over attempt 3: equal evidence; the lower number" in reason and "attempt 1 gave-up" in reason
    assert [a.number for a in order([attempt(3), failed, attempt(2)])] == [2, 3]


def test_the_table_has_a_row_per_attempt_and_marks_the_pick() -> None:
    rows = attempts_table(
        [attempt(1, status="failed", tests="not run", reproduced=None), attempt(2, diff_coverage=75.0, cost_usd=0.5)],
        picked=2,
    )
    assert rows[0].split() == ["attempt", "status", "tests", "repro", "coverage", "size", "findings", "cost"]
    assert rows[1].split() == ["1", "failed", "not", "run", "-", "-", "-", "0", "$0.00"]
    assert rows[2].split() == ["2", "*", "ready", "passed", "yes", "75%", "+1", "-1", "0", "$0.50"]
    assert len({len(row) for row in rows[:1]}) == 1


def test_a_pick_by_hand_must_name_an_attempt_with_a_change() -> None:
    result = IssueResolutionResult(attempts=[attempt(1, status="gave-up"), attempt(2)])
    check_pickable(result, 2)
    with pytest.raises(ValidationError, match="attempt 1 has no change to publish; these do: 2"):
        check_pickable(result, 1)
    with pytest.raises(ValidationError, match="attempt 7 has no change"):
        check_pickable(result, 7)
    with pytest.raises(ValidationError, match="ran one attempt"):
        check_pickable(IssueResolutionResult(), 1)
    with pytest.raises(ValidationError, match="ran one attempt"):
        check_pickable(PRReviewResult(), 1)
