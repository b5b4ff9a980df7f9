"""What earlier tasks found, for a new one to build on: a test run of the same commit and configuration
(so it is not run twice), and the last review of a pull request (what an incremental review starts from)."""

from __future__ import annotations

from typing import Any

from core.states import TaskStatus, TaskType
from core.store.interface import TaskStore
from core.store.queue_types import TaskFilter


class TaskHistory:
    def __init__(self, queue: TaskStore) -> None:
        self.queue = queue

    def previous_test_result(self, run_key: str) -> dict[str, Any] | None:
        """An earlier finished test run of the same commit and configuration (so it is not run twice)."""
        finished = (TaskStatus.SUCCEEDED, TaskStatus.FAILED)
        same = self.queue.list(
            TaskFilter(statuses=finished, types=(TaskType.TEST_PIPELINE,), result_equals={"run_key": run_key}, limit=50)
        )
        for task in same:
            result = task.result or {}
            # Only real outcomes are reused: an install failure or a time-out may not happen again.
            if result.get("run_key") == run_key and not result.get("reused_from") and _conclusive(result):
                return {**result, "reused_from": task.id}
        return None

    def last_review(self, repository: str, number: int) -> dict[str, Any] | None:
        """The result of the newest successful review of a pull request (what an incremental review builds on)."""
        reviews = self.queue.list(
            TaskFilter(
                statuses=(TaskStatus.SUCCEEDED,),
                types=(TaskType.PR_REVIEW,),
                repository=repository,
                payload_equals={"pr_number": number},
                limit=50,
            )
        )
        for task in reviews:
            if (task.result or {}).get("reviewed_commit"):
                return task.result
        return None


def _conclusive(result: dict[str, Any]) -> bool:
    projects = result.get("projects") or []
    return bool(projects) and all(p.get("status") in ("passed", "failed") for p in projects)
