"""The artifact store: what tasks make, in the database (SQLite and PostgreSQL), read by any machine. A change made
on one machine and published by another: `tests/test_fleet_processes.py` (worker processes on PostgreSQL) and
`tests/test_bucket_artifacts.py` (an S3-compatible bucket)."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.artifacts import BUNDLE_NAME, DIFF_NAME, put_folder, stored_diff
from core.errors import DockhandError, ValidationError
from core.models import utcnow
from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskType
from core.store.artifacts import CHUNK_BYTES, ArtifactTooLargeError, TaskArtifacts
from tests.support.store import database


def task_of(core: Core) -> str:
    return core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"}, max_retries=0)).task.id


def test_an_artifact_round_trips_in_chunks_and_is_replaced(core_factory: Callable[..., Core]) -> None:
    core = core_factory()
    task_id = task_of(core)
    data = os.urandom(2 * CHUNK_BYTES + 12345)  # three chunks, the last one short
    digest = core.artifacts.put(task_id, "round-1/reports/coverage.json", data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert core.artifacts.get(task_id, "round-1/reports/coverage.json") == data
    core.artifacts.put(task_id, "round-1/reports/coverage.json", b"")  # replaced, and empty is an artifact too
    assert core.artifacts.get(task_id, "round-1/reports/coverage.json") == b""
    core.artifacts.put(task_id, DIFF_NAME, b"diff")
    core.artifacts.put(task_id, "attempt-2/change.diff", b"other")
    assert core.artifacts.names(task_id) == ["attempt-2/change.diff", "change.diff", "round-1/reports/coverage.json"]
    assert core.artifacts.names(task_id, "attempt-2/") == ["attempt-2/change.diff"]
    assert stored_diff(core.artifacts, task_id) == "diff" and stored_diff(core.artifacts, task_id, 2) == "other"
    assert stored_diff(core.artifacts, task_id, 3) == "" and core.artifacts.get(task_id, "nothing") is None
    assert core.artifacts.delete(task_id, "attempt-2/") == 1
    assert core.artifacts.names(task_id) == ["change.diff", "round-1/reports/coverage.json"]


def test_bad_names_oversized_and_damaged_artifacts_are_refused(core_factory: Callable[..., Core]) -> None:
    core = core_factory(artifact_max_bytes=4096)
    task_id = task_of(core)
    for name in ("", "../x", "/etc/passwd", "a//b", "a/./b", "a\\b", "x\0y", "a/" * 300):
        with pytest.raises(ValidationError):
            core.artifacts.put(task_id, name, b"x")
    with pytest.raises(ArtifactTooLargeError, match="over the 4096-byte limit"):
        core.artifacts.put(task_id, "big", b"x" * 4097)
    assert core.artifacts.names(task_id) == []
    core.artifacts.put(task_id, BUNDLE_NAME, b"the approved change")
    with database(core).write() as session:
        session.execute(sa.text("UPDATE artifactchunk SET data = :d"), {"d": b"another change!!!!!!"})
    with pytest.raises(DockhandError, match="damaged"):
        core.artifacts.get(task_id, BUNDLE_NAME)


def test_finished_tasks_artifacts_are_pruned_and_waiting_ones_kept(core_factory: Callable[..., Core]) -> None:
    core = core_factory()
    done, waiting = task_of(core), task_of(core)
    for task_id in (done, waiting):
        core.artifacts.put(task_id, DIFF_NAME, b"diff")
    with database(core).write() as session:
        old = utcnow() - timedelta(days=40)
        session.execute(sa.text("UPDATE task SET finished_at = :at, status = 'succeeded' WHERE id = :id"),
                        {"at": old, "id": done})  # fmt: skip
    assert core.artifacts.prune(timedelta(days=30)) == 1
    assert core.artifacts.get(done, DIFF_NAME) is None and core.artifacts.get(waiting, DIFF_NAME) == b"diff"
    assert core.artifacts.prune(timedelta(days=30)) == 0


def test_artifacts_an_older_version_kept_on_disk_are_moved_in_when_read(
    core_factory: Callable[..., Core], tmp_path: Path
) -> None:
    core = core_factory()
    task_id = task_of(core)
    legacy = core.settings.artifacts_dir / task_id
    legacy.mkdir(parents=True)
    (legacy / DIFF_NAME).write_text("an old diff")
    assert stored_diff(core.artifacts, task_id) == "an old diff"
    shutil.rmtree(legacy)
    assert stored_diff(core.artifacts, task_id) == "an old diff"  # from the database now
    store = TaskArtifacts(database(core), max_bytes=1024)  # no disk to look at: only what is stored
    assert store.get(task_id, DIFF_NAME) == b"an old diff" and store.get(task_id, BUNDLE_NAME) is None


def test_a_folder_of_reports_is_stored_under_a_name(core_factory: Callable[..., Core], tmp_path: Path) -> None:
    core = core_factory()
    task_id = task_of(core)
    folder = tmp_path / "reports"
    (folder / "python").mkdir(parents=True)
    (folder / "python" / "junit.xml").write_text("<testsuite/>")
    (folder / "link").symlink_to("/etc/passwd")
    assert put_folder(core.artifacts, task_id, folder, "round-1") == 1
    assert core.artifacts.names(task_id) == ["round-1/python/junit.xml"]


def test_concurrent_writers_and_readers_of_one_artifact(core_factory: Callable[..., Core]) -> None:
    """Two writers replace one artifact over and over while two readers read it: no write is refused, and every
    read is one whole version, never a mix (which would look damaged)."""
    import threading

    core = core_factory()
    task_id = task_of(core)
    versions = [bytes([n]) * (2 * CHUNK_BYTES + 100) for n in (1, 2)]
    core.artifacts.put(task_id, BUNDLE_NAME, versions[0])
    errors: list[BaseException] = []
    stop = time.monotonic() + 3.0

    def keep(action: Callable[[], None]) -> None:
        try:
            while time.monotonic() < stop:
                action()
        except BaseException as exc:  # a thread's failure fails the test
            errors.append(exc)

    def read() -> None:
        assert core.artifacts.get(task_id, BUNDLE_NAME) in versions

    threads = [threading.Thread(target=keep, args=(lambda v=v: core.artifacts.put(task_id, BUNDLE_NAME, v),))
               for v in versions] + [threading.Thread(target=keep, args=(read,)) for _ in range(2)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert core.artifacts.names(task_id) == [BUNDLE_NAME]
