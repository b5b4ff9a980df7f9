"""Rate limits hold under a concurrent burst from Slack, GitHub and the API together, refuse with when to
try again, and store nothing for what they refuse."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx

from bot.http.app import create_app
from core.errors import RateLimitedError
from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskType, TriggerSource
from core.store.queue_types import TaskFilter
from tests.support.server import serve_in_thread

SOURCES = (TriggerSource.SLACK, TriggerSource.GITHUB, TriggerSource.API)


def submission(source: TriggerSource, repository: str, n: int) -> TaskSubmission:
    return TaskSubmission(
        type=TaskType.CUSTOM,
        payload={"command": "true"},
        repository=repository,
        trigger_source=source,
        dedup_key=f"{source.value}-{repository}-{n}",
    )


def test_the_limits_hold_under_a_concurrent_burst(core_factory: Callable[..., Core]) -> None:
    core = core_factory(repo_tasks_per_hour=10, submissions_per_minute=25)
    made: list[str] = []
    refused: list[RateLimitedError] = []
    lock = threading.Lock()

    def burst(source: TriggerSource) -> None:
        for n in range(15):
            for repository in ("acme/busy", f"acme/{source.value}"):
                try:
                    task = core.submit(submission(source, repository, n)).task
                except RateLimitedError as exc:
                    with lock:
                        refused.append(exc)
                else:
                    with lock:
                        made.append(task.id)

    threads = [threading.Thread(target=burst, args=(source,)) for source in SOURCES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tasks = core.tasks(TaskFilter(limit=1000))
    assert len(tasks) == len(made) == 25  # the global limit, exactly
    assert sum(1 for t in tasks if t.repository == "acme/busy") <= 10  # the per-repository limit
    assert len(refused) == 3 * 15 * 2 - 25 and all(1 <= e.retry_after_seconds <= 3600 for e in refused)
    # The operator's own CLI is not limited.
    core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"}, trigger_source=TriggerSource.CLI))


def test_a_repository_over_its_hourly_limit_is_told_when(core_factory: Callable[..., Core]) -> None:
    core = core_factory(repo_tasks_per_hour=3)
    for n in range(3):
        core.submit(submission(TriggerSource.SLACK, "acme/calc", n))
    try:
        core.submit(submission(TriggerSource.GITHUB, "acme/calc", 9))
    except RateLimitedError as exc:
        assert "acme/calc has had 3 tasks in the last hour" in str(exc)
        assert 3500 <= exc.retry_after_seconds <= 3600 and exc.when() == "60 min"
    else:
        raise AssertionError("the fourth task of the hour was accepted")
    # GitHub names are case-insensitive: another spelling is the same repository.
    try:
        core.submit(submission(TriggerSource.API, "ACME/Calc", 10))
    except RateLimitedError:
        pass
    else:
        raise AssertionError("a differently cased name slipped past the limit")
    # A redelivery of an accepted request is not a new task and is not refused.
    assert not core.submit(submission(TriggerSource.SLACK, "acme/calc", 0)).created
    assert core.submit(submission(TriggerSource.API, "acme/other", 0)).created


def test_the_api_answers_429_with_retry_after(core_factory: Callable[..., Core]) -> None:
    core = core_factory(submissions_per_minute=2)
    with serve_in_thread(create_app(core, api_token="t")) as base:
        answers = [
            httpx.post(
                f"{base}/api/submit",
                json={"type": "custom", "payload": {"command": "true"}},
                headers={"Authorization": "Bearer t"},
            )
            for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    assert "try again in" in answers[2].json()["error"]
    assert len(core.tasks(TaskFilter())) == 2
