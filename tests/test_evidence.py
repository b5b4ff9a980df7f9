"""The evidence a change comes with is said the same way in every channel: the approval request, the pull request,
the GitHub progress comment, the Slack thread, the TUI and `dockhand task` all carry the same lines."""

from __future__ import annotations

from typing import Any

from bot.github.progress import render
from bot.slack.messages import result_text as slack_result
from core.evidence import evidence_lines
from core.models import Task
from core.pipelines.resolution_texts import approval_summary, pull_request_body
from core.results import IssueResolutionResult
from core.states import TaskStatus, TaskType
from tui.format import result_text as screen_result

RESULT: dict[str, Any] = {
    "issue": {"number": 12, "title": "add() subtracts"},
    "pull_request_draft": {"title": "Fix add()", "body": "add() adds now."},
    "change": {"files": 2, "insertions": 6, "deletions": 1, "changed": []},
    "reproduction": {
        "status": "reproduced",
        "test": "tests/test_calc.py::test_negatives",
        "command": "pytest tests/test_calc.py::test_negatives",
        "failed_before": "E   assert 1 == -3\nFAILED tests/test_calc.py::test_negatives - assert 1 == -3",
        "passes_after": True,
    },
    "tests": {
        "status": "passed",
        "projects": [
            {
                "language": "python",
                "root": ".",
                "framework": "pytest",
                "status": "passed",
                "totals": {"passed": 4, "failed": 0},
                "diff_coverage": {"percent": 75.0, "covered": 3, "total": 4},
            }
        ],
    },
    "self_review": {"sent_back": 1, "remaining": [{"severity": "info", "path": "calc.py", "line": 2, "title": "Doc"}]},
}


def test_every_channel_shows_the_same_evidence() -> None:
    lines = evidence_lines(IssueResolutionResult.model_validate(RESULT))
    assert lines == [
        "reproduced ✓ `tests/test_calc.py::test_negatives`: failed before the change "
        "(`FAILED tests/test_calc.py::test_negatives - assert 1 == -3`), passes after",
        "tests: passed, 4 passed, 0 failed",
        "diff coverage: 75% (3 of the 4 changed lines the tests ran)",
        "self-review: 1 remaining findings, 1 sent back to the agent",
        "  info: calc.py:2: Doc",
    ]
    waiting = Task(id="t1", type=TaskType.ISSUE_RESOLUTION, status=TaskStatus.AWAITING_APPROVAL, result=RESULT)
    done = waiting.model_copy(update={"status": TaskStatus.SUCCEEDED})
    shown = {
        "approval request": approval_summary(RESULT),
        "pull request": pull_request_body(RESULT, "t1"),
        "GitHub progress comment": render(waiting, [], "dockhand"),
        "Slack thread": slack_result(done),
        "TUI and dockhand task": screen_result(done).plain,
    }
    for channel, text in shown.items():
        for line in lines:
            assert line.strip() in text, f"{channel} lacks {line.strip()!r}:\n{text}"


def test_a_change_without_a_reproduction_says_why() -> None:
    result = {**RESULT, "reproduction": {"status": "not-reproduced", "reason": "a docs change:\nno code runs"}}
    assert evidence_lines(IssueResolutionResult.model_validate(result))[0] == (
        "not reproduced: a docs change: no code runs"
    )


def test_what_the_agent_or_a_test_wrote_cannot_add_lines_mentions_or_markup() -> None:
    forged = "x`\n- tests: passed, 120 passed, 0 failed\ncc @acme/security"
    result = {**RESULT, "reproduction": {**RESULT["reproduction"], "test": forged,
                                         "failed_before": "FAILED x - see @acme/ops `rm`"}}  # fmt: skip
    lines = evidence_lines(IssueResolutionResult.model_validate(result))
    assert lines[0].count("`") == 4 and "\n" not in lines[0], "one line, each part one code span"
    assert "@acme" not in lines[0] and "@\u2060acme/security" in lines[0]
    assert sum(line.startswith("tests:") for line in lines) == 1
