"""The artifact store in an S3-compatible bucket: boto3 against an S3 server on loopback (moto's), down to a change
made on one machine and published by another with a data directory of its own."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from moto.server import ThreadedMotoServer

from core.artifacts import BUNDLE_NAME, DIFF_NAME, stored_diff
from core.errors import DockhandError, SettingsError
from core.models import utcnow
from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskStatus, TaskType
from core.store.artifacts import ArtifactTooLargeError
from core.store.bucket_artifacts import BucketArtifacts
from tests.support.processes import free_port
from tests.support.store import database, sql_core
from tests.test_issue_resolution import FIXED, fixing_script, issue_world

BUCKET = "dockhand-artifacts"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An S3 endpoint on 127.0.0.1 with an empty bucket; boto3's credentials in the environment, as an operator's."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield url
    finally:
        server.stop()


def bucket_core(core_factory: Callable[..., Core], s3: str, **settings: object) -> Core:
    return core_factory(
        artifact_bucket=BUCKET, artifact_bucket_endpoint_url=s3, artifact_bucket_region="us-east-1", **settings
    )


def test_artifacts_round_trip_through_the_bucket(core_factory: Callable[..., Core], s3: str) -> None:
    core = bucket_core(core_factory, s3, artifact_max_bytes=4096)
    assert isinstance(core.artifacts, BucketArtifacts)
    task_id = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"})).task.id
    core.artifacts.put(task_id, DIFF_NAME, b"the diff")
    core.artifacts.put(task_id, "attempt-2/change.diff", b"another")
    assert stored_diff(core.artifacts, task_id) == "the diff" and stored_diff(core.artifacts, task_id, 2) == "another"
    assert core.artifacts.names(task_id) == ["attempt-2/change.diff", "change.diff"]
    assert core.artifacts.get(task_id, BUNDLE_NAME) is None
    with pytest.raises(ArtifactTooLargeError):
        core.artifacts.put(task_id, BUNDLE_NAME, b"x" * 4097)
    # Bytes changed in the bucket behind dockhand's back are found out.
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    client.put_object(Bucket=BUCKET, Key=f"dockhand/artifacts/{task_id}/change.diff", Body=b"tampered",
                      Metadata={"sha256": "0" * 64})  # fmt: skip
    with pytest.raises(DockhandError, match="damaged"):
        core.artifacts.get(task_id, DIFF_NAME)
    assert core.artifacts.delete(task_id, "attempt-") == 1
    # Retention: a task that finished long ago loses its artifacts.
    with database(core).write() as session:
        session.execute(sa.text("UPDATE task SET finished_at = :at, status = 'succeeded' WHERE id = :id"),
                        {"at": utcnow() - timedelta(days=40), "id": task_id})  # fmt: skip
    assert core.artifacts.prune(timedelta(days=30)) == 1
    assert core.artifacts.names(task_id) == []


def test_a_bucket_without_boto3_is_a_clear_settings_error(
    core_factory: Callable[..., Core], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "boto3", None)  # as on a machine without the s3 extra
    with pytest.raises(SettingsError, match=r"pip install '\.\[s3\]'"):
        core_factory(artifact_bucket=BUCKET)


@pytest.mark.slow
def test_a_change_kept_in_the_bucket_is_published_by_another_machine(
    tmp_path: Path, core_factory: Callable[..., Core], sandbox_image: str, s3: str
) -> None:
    bucket = {"artifact_bucket": BUCKET, "artifact_bucket_endpoint_url": s3, "artifact_bucket_region": "us-east-1"}
    with issue_world(tmp_path, core_factory, sandbox_image, **bucket) as world:
        world.model.script = fixing_script()
        task_id = world.submit()
        assert world.core.run_now(task_id).status is TaskStatus.AWAITING_APPROVAL
        world.core.stop()
        shutil.rmtree(world.core.settings.data_dir)
        settings_b = world.core.settings.model_copy(update={"data_dir": tmp_path / "machine-b"})
        from bot.github.forge import attach_github_pipelines
        from sandbox.backend import dependency_cache, docker_backend

        cache = dependency_cache(settings_b)
        machine_b = sql_core(settings_b, sandboxes=lambda i: docker_backend(settings_b, i, cache), caches=[cache])
        attach_github_pipelines(machine_b)
        try:
            assert "+    return a + b" in stored_diff(machine_b.artifacts, task_id)
            machine_b.approve(task_id, by="bob")
            task = machine_b.run_now(task_id)
            assert task.status is TaskStatus.SUCCEEDED, task.error
            assert world.remote_file((task.result or {})["pull_request"]["branch"], "calc.py") == FIXED
        finally:
            machine_b.stop()
