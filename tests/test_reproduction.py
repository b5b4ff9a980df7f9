"""Reproduce first, end to end (real sandbox, real git, scripted model): the agent's new test must fail on the
unchanged code and pass after its fix; the evidence reaches the approval request and the pull request; a "fix"
that leaves the reproduction failing is never offered for approval."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.results import IssueResolutionResult, result_of
from tests.support.fake_anthropic import Reply, tool_use
from tests.test_issue_resolution import World, edit, issue_world

NEW_TEST = "from calc import add\n\n\ndef test_negatives():\n    assert add(-1, -2) == -3\n"
RUN_IT = ".venv/bin/python -m pytest -q -p no:cacheprovider tests/test_negatives.py"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def world(tmp_path: Path, core_factory: Any, sandbox_image: str) -> Iterator[World]:
    with issue_world(tmp_path, core_factory, sandbox_image) as made:
        yield made


def write_test() -> Reply:
    create = {"command": "create", "path": "tests/test_negatives.py", "file_text": NEW_TEST}
    return Reply([tool_use("str_replace_based_edit_tool", create)])


def answered(expected: str, then: Reply) -> Callable[[dict[str, Any]], Reply]:
    """A step that checks what the last tool call was answered, then goes on."""

    def step(body: dict[str, Any]) -> Reply:
        result = body["messages"][-1]["content"][0]
        assert result["type"] == "tool_result" and expected in str(result["content"]), result
        return then

    return step


def test_a_new_test_fails_before_and_passes_after_and_the_pull_request_says_so(world: World) -> None:
    named = {"command": RUN_IT, "test": "tests/test_negatives.py::test_negatives"}
    unrelated = Reply([tool_use("reproduce", {"command": "exit 1"})])  # fails, but runs no test of the agent's
    fix = Reply([tool_use("str_replace_based_edit_tool", edit("a - b", "a + b"))])
    world.model.script = [
        Reply([tool_use("submit", {"title": "Too early", "body": "no"})]),
        answered("Call reproduce first", fix),  # fixing before reproducing…
        Reply([tool_use("reproduce", named)]),
        answered("these are not tests: calc.py", Reply([tool_use("bash", {"command": "git checkout -- calc.py"})])),
        write_test(),
        unrelated,
        answered(
            "names none of the test files you changed (tests/test_negatives.py)",
            Reply([tool_use("reproduce", {"command": "true tests/test_negatives.py", "test": "nothing"})]),
        ),
        answered("passes on the unchanged code", Reply([tool_use("reproduce", {"command": RUN_IT + "x"})])),
        answered("did not run the test", Reply([tool_use("reproduce", named)])),
        answered("Reproduced: tests/test_negatives.py::test_negatives fails on the unchanged code", fix),
        Reply([tool_use("submit", {"title": "Fix add()", "body": "add() subtracted."})]),
    ]
    task = world.core.run_now(world.submit())
    assert task.status.value == "awaiting_approval", task.error
    result = result_of(task)
    assert isinstance(result, IssueResolutionResult) and result.reproduction is not None
    assert (result.reproduction.status, result.reproduction.passes_after) == ("reproduced", True)
    assert "assert 1 == -3" in result.reproduction.failed_before
    summary = world.core.approvals.of(task.id)[0].summary
    assert "reproduced ✓ `tests/test_negatives.py::test_negatives`: failed before the change" in summary
    assert "passes after" in summary and "diff coverage: " in summary

    world.core.approve(task.id, by="bob")
    task = world.core.run_now(task.id)
    assert task.status.value == "succeeded", task.error
    (opened,) = world.github.pulls.values()
    body = opened["body"]
    assert "**Evidence**" in body and "- reproduced ✓ `tests/test_negatives.py::test_negatives`" in body
    assert "assert 1 == -3" in body, "why it failed before is in the pull request"


def test_a_fix_that_leaves_the_reproduction_failing_is_never_offered(world: World) -> None:
    comment_only = Reply([tool_use("str_replace_based_edit_tool", edit("a - b", "a - b  # fixed?"))])
    submit = Reply([tool_use("submit", {"title": "Fix", "body": "done"})])
    world.model.script = [
        write_test(),
        Reply([tool_use("reproduce", {"command": RUN_IT})]),
        comment_only,
        submit,
        answered("The reproduction test still fails after your change", submit),
    ]
    task = world.core.run_now(world.submit())
    assert task.status.value == "failed"
    assert "still fail after 2 rounds" in (task.error or "") and "reproduction test still fails" in (task.error or "")
    assert world.core.approvals.of(task.id) == []
    reproduction = result_of(task).reproduction  # type: ignore[union-attr]
    assert reproduction is not None and reproduction.passes_after is False


def test_a_reproduction_test_edited_after_it_failed_does_not_count(world: World) -> None:
    """Weakening the test so that it passes is no fix: the test must pass as it was when it failed."""
    weakened = {"command": "str_replace", "path": "tests/test_negatives.py", "old_str": "== -3", "new_str": "== 1"}
    submit = Reply([tool_use("submit", {"title": "Fix", "body": "done"})])
    world.model.script = [
        write_test(),
        Reply([tool_use("reproduce", {"command": RUN_IT})]),
        Reply([tool_use("str_replace_based_edit_tool", weakened)]),
        submit,
        answered("The reproduction test was changed after it failed (tests/test_negatives.py)", submit),
    ]
    task = world.core.run_now(world.submit())
    assert task.status.value == "failed" and world.core.approvals.of(task.id) == []
