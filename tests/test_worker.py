"""Workers running real pipelines: stages, logs, events, cancel, timeouts, retries, shutdown."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from core.errors import StageFailedError
from core.events import TaskEventRecord
from core.pipeline import Pipeline, PipelineRegistry, Stage, StageContext
from core.pipelines import default_registry
from core.service import Core
from core.specs import TaskSubmission
from core.states import EventKind, LogStream, StageStatus, TaskStatus, TaskType
from tests.support.waiting import wait_for


def submit(core: Core, command: str, **payload: object) -> str:
    return core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": command, **payload})).task.id


def final(core: Core, task_id: str, timeout: float = 20) -> TaskStatus:
    return wait_for(
        lambda: core.task(task_id).status if core.task(task_id).status.is_final else None,
        timeout=timeout,
        what=f"task {task_id} to finish",
    )


def test_custom_command_streams_its_output_and_records_its_stage(core: Core) -> None:
    core.start(workers=1)
    task_id = submit(core, "echo out-1; echo err-1 >&2; echo out-2")
    assert final(core, task_id) is TaskStatus.SUCCEEDED
    lines = [(line.stream, line.line) for line in core.logs.tail(task_id)]
    assert (LogStream.STDOUT, "out-1") in lines and (LogStream.STDERR, "err-1") in lines
    assert lines.index((LogStream.STDOUT, "out-1")) < lines.index((LogStream.STDOUT, "out-2"))
    detail = core.task_detail(task_id)
    [stage] = detail.stages
    assert stage.name == "run" and stage.status is StageStatus.SUCCEEDED and stage.duration_seconds is not None
    assert detail.task.result == {
        "exit_code": 0,
        "duration_seconds": detail.task.result["duration_seconds"],
        "timed_out": False,
    }
    kinds = [e.kind for e in detail.events]
    assert kinds == [
        EventKind.CREATED,
        EventKind.CLAIMED,
        EventKind.STAGE_STARTED,
        EventKind.STAGE_FINISHED,
        EventKind.FINISHED,
    ]
    # Tailing from an id returns only what came after it.
    every_line = core.logs.tail(task_id)
    assert core.logs.tail(task_id, after_id=every_line[1].id) == every_line[2:]


def test_failing_command_fails_without_retry(core: Core) -> None:
    core.start(workers=1)
    task_id = submit(core, "echo boom >&2; exit 7")
    assert final(core, task_id) is TaskStatus.FAILED
    task = core.task(task_id)
    assert task.error == "command exited with code 7" and task.retry_count == 0 and task.attempt == 1


def test_the_command_never_sees_dockhand_credentials(core_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_test_secret")
    core = core_factory()
    core.start(workers=1)
    task_id = submit(core, "env")
    assert final(core, task_id) is TaskStatus.SUCCEEDED
    output = "\n".join(line.line for line in core.logs.tail(task_id))
    assert "DOCKHAND_TASK_ID=" in output
    assert "secret" not in output and "ANTHROPIC" not in output and "GITHUB_TOKEN" not in output


def test_timeout_kills_the_whole_process_tree(core: Core, tmp_path: Path) -> None:
    core.start(workers=1)
    pidfile = tmp_path / "child.pid"
    task_id = submit(core, f"sh -c 'echo $$ > {pidfile}; sleep 60' & wait", timeout_seconds=1)
    assert final(core, task_id) is TaskStatus.FAILED
    assert "timed out" in (core.task(task_id).error or "")
    child = int(pidfile.read_text())
    wait_for(lambda: not _alive(child), timeout=5, what=f"grandchild {child} to die")


def test_cancel_stops_a_running_command(core: Core, tmp_path: Path) -> None:
    core.start(workers=1)
    marker = tmp_path / "started"
    task_id = submit(core, f"touch {marker}; sleep 60; echo finished")
    wait_for(marker.exists, what="the command to start")
    started = time.monotonic()
    core.cancel(task_id, by="tester")
    assert final(core, task_id, timeout=10) is TaskStatus.CANCELLED
    assert time.monotonic() - started < 5
    assert "finished" not in [line.line for line in core.logs.tail(task_id)]
    assert core.task_detail(task_id).stages[0].status is StageStatus.CANCELLED


def test_cancel_from_another_process_is_seen_by_heartbeat(core_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = core_factory(heartbeat_seconds=0.2)
    other = core_factory()  # e.g. the CLI: same database, no workers
    runner.start(workers=1)
    marker = tmp_path / "started"
    task_id = submit(runner, f"touch {marker}; sleep 60")
    wait_for(marker.exists, what="the command to start")
    other.cancel(task_id, by="cli")
    assert final(runner, task_id, timeout=10) is TaskStatus.CANCELLED


def test_unexpected_error_is_retried_then_succeeds(core_factory) -> None:  # type: ignore[no-untyped-def]
    attempts: list[int] = []

    def flaky(ctx: StageContext) -> None:
        attempts.append(ctx.task.attempt)
        if len(attempts) < 3:
            raise ConnectionError("registry hiccup")
        ctx.result["attempts"] = len(attempts)

    registry = default_registry()
    registry.register(TaskType.CUSTOM, Pipeline("flaky", (Stage("prepare", lambda ctx: None), Stage("work", flaky))))
    core = core_factory(registry=registry, max_retries=3)
    core.start(workers=1)
    task_id = submit(core, "unused")
    assert final(core, task_id) is TaskStatus.SUCCEEDED
    task = core.task(task_id)
    assert attempts == [1, 2, 3] and task.retry_count == 2 and task.result == {"attempts": 3}
    retry_events = [e for e in core.journal.events(task_id) if e.kind is EventKind.RETRY_SCHEDULED]
    assert len(retry_events) == 2 and "registry hiccup" in retry_events[0].message


def test_stage_failure_skips_the_remaining_stages(core_factory) -> None:  # type: ignore[no-untyped-def]
    def fail(ctx: StageContext) -> None:
        raise StageFailedError("tests failed")

    registry = PipelineRegistry()
    registry.register(
        TaskType.CUSTOM, Pipeline("p", (Stage("a", lambda c: None), Stage("b", fail), Stage("c", lambda c: None)))
    )
    core = core_factory(registry=registry)
    core.start(workers=1)
    task_id = submit(core, "unused")
    assert final(core, task_id) is TaskStatus.FAILED
    statuses = [(s.name, s.status) for s in core.task_detail(task_id).stages]
    assert statuses == [("a", StageStatus.SUCCEEDED), ("b", StageStatus.FAILED), ("c", StageStatus.SKIPPED)]


def test_slow_and_failing_subscribers_do_not_stall_tasks(core: Core) -> None:
    gate = threading.Event()
    seen: list[TaskEventRecord] = []

    def slow(event: TaskEventRecord) -> None:
        gate.wait(30)

    def broken(event: TaskEventRecord) -> None:
        raise RuntimeError("notifier down")

    slow_sub = core.bus.subscribe(slow, name="slow", maxsize=2)
    broken_sub = core.bus.subscribe(broken, name="broken")
    core.bus.subscribe(seen.append, name="recorder")
    core.start(workers=2)
    ids = [submit(core, "true") for _ in range(5)]
    started = time.monotonic()
    for task_id in ids:
        assert final(core, task_id) is TaskStatus.SUCCEEDED
    assert time.monotonic() - started < 15
    assert slow_sub.dropped > 0, "a full subscriber queue drops instead of blocking"
    wait_for(lambda: broken_sub.failed >= 25, what="the broken subscriber to be called for every event")
    wait_for(lambda: len([e for e in seen if e.kind is EventKind.FINISHED]) == 5, what="all finish events")
    gate.set()


def test_shutdown_hands_running_tasks_back_to_the_queue(core_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = core_factory()
    marker = tmp_path / "started"
    first.start(workers=1)
    task_id = submit(first, f"if [ -e {marker} ]; then echo second run; else touch {marker}; sleep 60; fi")
    wait_for(marker.exists, what="the first run to start")
    first.stop(grace_seconds=0.5)
    task = core_factory().task(task_id)
    assert task.status is TaskStatus.PENDING and task.retry_count == 0
    second = core_factory()
    second.start(workers=1)
    assert final(second, task_id) is TaskStatus.SUCCEEDED
    assert "second run" in [line.line for line in second.logs.tail(task_id)]


@pytest.mark.parametrize("limit", [1, 2])
def test_per_repository_limit_holds_while_running(core_factory, tmp_path: Path, limit: int) -> None:  # type: ignore[no-untyped-def]
    core = core_factory(per_repo_limit=limit)
    log = tmp_path / "concurrency.log"
    cmd = f"echo start >> {log}; sleep 0.4; echo end >> {log}"
    ids = [
        core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": cmd}, repository="acme/api")).task.id
        for _ in range(4)
    ]
    core.start(workers=4)
    for task_id in ids:
        assert final(core, task_id) is TaskStatus.SUCCEEDED
    running = peak = 0
    for line in log.read_text().split():
        running += 1 if line == "start" else -1
        peak = max(peak, running)
    assert peak == limit


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_background_processes_die_with_the_task(core: Core, tmp_path: Path) -> None:
    core.start(workers=1)
    pidfile = tmp_path / "bg.pid"
    started = time.monotonic()
    task_id = submit(core, f"sleep 300 & echo $! > {pidfile}; echo left it running")
    assert final(core, task_id) is TaskStatus.SUCCEEDED
    assert time.monotonic() - started < 5, "a background child must not hold the task open"
    wait_for(lambda: not _alive(int(pidfile.read_text())), timeout=5, what="the background sleep to die")


def test_binary_and_endless_lines_are_logged_safely(core: Core) -> None:
    core.start(workers=1)
    task_id = submit(core, r"printf 'nul\000byte\n'; head -c 200000 /dev/zero | tr '\000' x; echo; echo after")
    assert final(core, task_id) is TaskStatus.SUCCEEDED
    lines = [line.line for line in core.logs.tail(task_id, limit=100)]
    assert "nul\ufffdbyte" in lines and "after" in lines
    assert all(len(line) <= 9000 for line in lines), "a line with no newline is read in bounded chunks"


def test_reserved_and_overridden_environment(core: Core) -> None:
    core.start(workers=1)
    task_id = submit(core, 'echo "home=$HOME custom=$MY_VAR"', env={"HOME": "/nowhere", "MY_VAR": "x"})
    assert final(core, task_id) is TaskStatus.SUCCEEDED
    assert "home=/nowhere custom=x" in [line.line for line in core.logs.tail(task_id)]


def test_a_lone_log_line_is_stored_without_waiting_for_more(core) -> None:  # type: ignore[no-untyped-def]
    from core.specs import TaskSubmission
    from core.states import LogStream, TaskType

    task_id = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"})).task.id
    sink = core.logs.sink(task_id)
    sink.write("started", LogStream.STDOUT)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not core.logs.tail(task_id):
        time.sleep(0.05)
    assert [line.line for line in core.logs.tail(task_id)] == ["started"]
