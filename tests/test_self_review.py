"""dockhand reviews its own change before asking (real sandbox, scripted model): a serious finding goes back to the
agent once, its change is checked again, and what remains is listed in the approval request and the PR."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.artifacts import stored_diff
from core.results import IssueResolutionResult, result_of
from core.states import TaskStatus
from tests.support.fake_anthropic import Reply, tool_use
from tests.test_issue_resolution import NO_REPRODUCTION, World, edit, issue_world
from tests.test_pr_review import finding


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def world(tmp_path: Path, core_factory: Any, sandbox_image: str) -> Iterator[World]:
    with issue_world(tmp_path, core_factory, sandbox_image, agent_self_review=True) as made:
        yield made


SLOPPY_FIX = "    print('debug')\n    return a + b\n"


def report(*found: dict[str, Any]) -> Reply:
    return Reply([tool_use("report_findings", {"findings": list(found)})])


def test_a_serious_finding_goes_back_once_and_a_remaining_one_is_shown(world: World) -> None:
    submit = Reply([tool_use("submit", {"title": "Fix add()", "body": "add() adds."})])

    def sent_back(body: dict[str, Any]) -> Reply:
        result = body["messages"][-1]["content"][0]
        assert result["type"] == "tool_result" and result["is_error"], result
        assert 'review-finding path="calc.py" line="2" severity="error"' in result["content"]
        assert "A debug print is left in." in result["content"]
        return Reply([tool_use("str_replace_based_edit_tool", edit("    print('debug')\n", ""))])

    def reviewed_again(body: dict[str, Any]) -> Reply:
        diff = body["messages"][0]["content"][0]["text"]
        assert "print(" not in diff and "+    return a + b" in diff, "the second review reads the new change"
        return report(finding("calc.py", 2, "info", "add() could say what it returns."))

    world.model.script = [
        NO_REPRODUCTION,
        Reply(
            [
                tool_use(
                    "str_replace_based_edit_tool", edit("    return a - b\n", "    print('debug')\n    return a + b\n")
                )
            ]
        ),
        submit,
        # the review of the change: one serious finding, one minor
        report(finding("calc.py", 2, "error", "A debug print is left in."), finding("calc.py", 3, "warning", "x")),
        Reply([tool_use("finish_review", {"summary": "A stray print."})]),
        sent_back,
        submit,
        reviewed_again,
        Reply([tool_use("finish_review", {"summary": "Fine."})]),
    ]
    task = world.core.run_now(world.submit())
    assert task.status is TaskStatus.AWAITING_APPROVAL, task.error
    result = result_of(task)
    assert isinstance(result, IssueResolutionResult) and result.self_review is not None
    assert result.self_review.sent_back == 1
    assert [(n.severity, n.path, n.line) for n in result.self_review.remaining] == [("info", "calc.py", 2)]
    summary = world.core.approvals.of(task.id)[0].summary
    assert "self-review: 1 remaining findings, 1 sent back to the agent" in summary
    assert "info: calc.py:2: add() could say what it returns." in summary
    world.core.approve(task.id, by="bob")
    done = world.core.run_now(task.id)
    assert done.status is TaskStatus.SUCCEEDED, done.error
    (opened,) = world.github.pulls.values()
    assert "  - info: calc.py:2: add() could say what it returns." in opened["body"]


def test_what_the_reviewer_changes_in_the_checkout_is_put_back(world: World) -> None:
    """The reviewer may run commands; a file it changes is no part of the change that is proposed."""
    world.model.script = [
        NO_REPRODUCTION,
        Reply([tool_use("str_replace_based_edit_tool", edit("a - b", "a + b"))]),
        Reply([tool_use("submit", {"title": "Fix add()", "body": "add() adds."})]),
        Reply([tool_use("bash", {"command": "echo '# reformatted' >> calc.py && touch stray.txt"})]),
        Reply([tool_use("finish_review", {"summary": "Looks fine."})]),
    ]
    task = world.core.run_now(world.submit())
    assert task.status is TaskStatus.AWAITING_APPROVAL, task.error
    result = result_of(task)
    assert isinstance(result, IssueResolutionResult) and result.self_review is not None
    assert "the reviewer changed files; they were put back" in result.self_review.gaps
    assert [f["path"] for f in (task.result or {})["change"]["changed"]] == ["calc.py"]
    assert "reformatted" not in stored_diff(world.core.artifacts, task.id)
