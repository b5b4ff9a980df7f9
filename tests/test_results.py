"""Typed task results: each task type's stored result reads as its model, old and odd rows included."""

from __future__ import annotations

import logging

import pytest

from core.models import Task
from core.results import (
    CustomResult,
    IssueResolutionResult,
    PRReviewResult,
    TestPipelineResult,
    agent_of,
    result_of,
)
from core.states import TaskType


def task(task_type: TaskType, result: object, metrics: object = None) -> Task:
    return Task(id="0000000000a1", type=task_type, result=result, metrics=metrics or {})


def test_an_issue_resolution_reads_as_its_model() -> None:
    stored = {
        "issue": {"number": 12, "title": "Divide by zero"},
        "base_branch": "main",
        "agent": {"turns": 7, "usage": {"input_tokens": 900, "output_tokens": 80}, "cost_usd": 0.42, "budget_usd": 5},
        "change": {"files": 2, "insertions": 10, "deletions": 3, "touches_workflows": False, "files_list": ["a"]},
        "pull_request_draft": {"title": "Fix #12", "body": "…"},
        "tests": {"status": "passed", "round": 2, "projects": [{"language": "python", "root": ".", "status": "passed",
                                                                "totals": {"passed": 3, "failed": 0}}]},
        "pull_request": {"branch": "dockhand/issue-12", "commit": "abc", "pull_number": 13, "pull_url": "https://x/13"},
    }  # fmt: skip
    result = result_of(task(TaskType.ISSUE_RESOLUTION, stored))
    assert isinstance(result, IssueResolutionResult)
    assert result.agent is not None and (result.agent.turns, result.agent.usage.input_tokens) == (7, 900)
    assert result.change is not None and result.change.files == 2
    assert result.pull_request is not None and result.pull_request.pull_number == 13
    assert [(p.language, p.totals.passed) for p in result.test_projects] == [("python", 3)]
    assert result.model_dump(mode="json", exclude_unset=True) == stored, "what is not modelled is kept, not lost"


def test_each_task_type_has_its_model() -> None:
    assert isinstance(result_of(task(TaskType.CUSTOM, {"exit_code": 1, "oom_killed": True})), CustomResult)
    pipeline = result_of(task(TaskType.TEST_PIPELINE, {"status": "failed", "projects": [{"language": "go"}]}))
    assert isinstance(pipeline, TestPipelineResult) and [p.language for p in pipeline.test_projects] == ["go"]
    review = result_of(task(TaskType.PR_REVIEW, {"review": {"id": 5, "comments": 2, "in_body": 1}}))
    assert isinstance(review, PRReviewResult) and review.review is not None and review.review.comments == 2


def test_no_result_yet_reads_empty_and_the_cost_comes_from_the_metrics() -> None:
    running = task(TaskType.ISSUE_RESOLUTION, None, {"agent": {"turns": 3, "cost_usd": 0.1}})
    assert result_of(running) == IssueResolutionResult()
    agent = agent_of(running)
    assert agent is not None and (agent.turns, agent.cost_usd) == (3, 0.1)
    assert agent_of(task(TaskType.CUSTOM, {})) is None


def test_a_row_that_does_not_fit_reads_empty_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    odd = task(TaskType.ISSUE_RESOLUTION, {"pull_request": "not an object", "change": {"files": "many"}})
    with caplog.at_level(logging.WARNING, logger="core.results"):
        assert result_of(odd) == IssueResolutionResult()
    assert "does not fit the IssueResolutionResult model" in caplog.text
    assert agent_of(task(TaskType.PR_REVIEW, {}, {"agent": {"turns": "x"}})) is None


def test_the_api_shows_a_result_through_its_model_and_an_odd_one_as_stored() -> None:
    from core.results import result_json
    from core.views import TaskView

    stored = {"status": "passed", "projects": [{"language": "python", "totals": {"passed": 1}, "junit": "r.xml"}]}
    assert result_json(task(TaskType.TEST_PIPELINE, stored)) == stored
    odd = {"projects": "not a list"}
    assert result_json(task(TaskType.TEST_PIPELINE, odd)) == odd
    schema = TaskView.model_json_schema()
    assert {"id", "status", "trigger", "result", "created_at"} <= set(schema["properties"])


def test_a_pipelines_result_is_stored_as_its_model_writes_it(caplog: pytest.LogCaptureFixture) -> None:
    from core.results import stored_result

    written = {"change": {"files": "2", "insertions": 1, "deletions": 0}, "notes": ["kept"]}
    assert stored_result(TaskType.ISSUE_RESOLUTION, written) == {
        "change": {"files": 2, "insertions": 1, "deletions": 0},
        "notes": ["kept"],
    }
    broken = {"pull_request": ["not", "an", "object"]}
    with caplog.at_level(logging.ERROR, logger="core.results"):
        assert stored_result(TaskType.ISSUE_RESOLUTION, broken) == broken
    assert "does not fit the IssueResolutionResult model" in caplog.text
