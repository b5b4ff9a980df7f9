"""What tasks make, in the database: a change's bundle and diff, test reports, coverage. Any machine with the
database reads them (a worker publishing a change another one made, a Slack button, the TUI), and they outlive
the machine that made them. The bytes go in 1 MiB chunks (bytea on PostgreSQL, blobs on SQLite), each artifact
with its size and SHA-256, checked when it is read; a size cap per artifact; finished tasks' artifacts are pruned
after a retention period.

Artifacts written by versions that kept them on a worker's disk are read from there once and moved in."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from sqlmodel import col, delete, select

from core.artifacts import ArtifactStore
from core.errors import DockhandError, ValidationError
from core.models import Artifact, ArtifactChunk, Task, utcnow
from core.store.database import Database

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
ARTIFACT_LOCK_SPACE = 0x61727466  # "artf": two-key advisory locks, one per artifact name being written
MAX_NAME = 500


class ArtifactTooLargeError(ValidationError):
    pass


def check_name(name: str) -> str:
    """An artifact's name is a plain relative path: no `..`, no absolute path, no empty parts."""
    path = PurePosixPath(name)
    if not name or len(name) > MAX_NAME or path.is_absolute() or any(p in ("", ".", "..") for p in name.split("/")):
        raise ValidationError(f"not an artifact name: {name!r}")
    if "\0" in name or "\\" in name:
        raise ValidationError(f"not an artifact name: {name!r}")
    return name


class TaskArtifacts:
    def __init__(self, db: Database, *, max_bytes: int, legacy_dir: Path | None = None) -> None:
        """`legacy_dir`: where older versions kept artifacts on disk (`<dir>/<task>/<name>`), moved in when read."""
        self.db = db
        self.max_bytes = max_bytes
        self.legacy_dir = legacy_dir

    def put(self, task_id: str, name: str, data: bytes) -> str:
        """Store (or replace) a task's artifact; its SHA-256."""
        check_name(name)
        if len(data) > self.max_bytes:
            raise ArtifactTooLargeError(
                f"{name} is {len(data)} bytes, over the {self.max_bytes}-byte limit (DOCKHAND_ARTIFACT_MAX_BYTES)"
            )
        digest = hashlib.sha256(data).hexdigest()
        with self.db.write() as session:
            self.db.xact_lock(session, ARTIFACT_LOCK_SPACE, f"{task_id}/{name}")  # one writer of a name at a time
            session.execute(delete(Artifact).where(col(Artifact.task_id) == task_id, col(Artifact.name) == name))
            row = Artifact(task_id=task_id, name=name, size=len(data), sha256=digest, created_at=utcnow())
            session.add(row)
            session.flush()
            assert row.id is not None
            pieces = range(0, max(len(data), 1), CHUNK_BYTES)
            session.add_all(
                ArtifactChunk(artifact_id=row.id, seq=i, data=data[at : at + CHUNK_BYTES])
                for i, at in enumerate(pieces)
            )
        return digest

    def get(self, task_id: str, name: str) -> bytes | None:
        """A task's artifact (None: there is none); its bytes are checked against the hash they were stored with."""
        check_name(name)
        query = (  # one statement, so one snapshot: a replace going on meanwhile is not seen half-way
            select(Artifact.size, Artifact.sha256, ArtifactChunk.data)
            .join(ArtifactChunk, col(ArtifactChunk.artifact_id) == col(Artifact.id))
            .where(Artifact.task_id == task_id, Artifact.name == name)
            .order_by(col(ArtifactChunk.seq))
        )
        with self.db.read() as session:
            rows = session.exec(query).all()
        if not rows:
            return move_in(self, self.legacy_dir, task_id, name)
        found = b"".join(data for _, _, data in rows)
        size, digest = rows[0][0], rows[0][1]
        if len(found) != size or hashlib.sha256(found).hexdigest() != digest:
            raise DockhandError(f"artifact {name} of task {task_id} is damaged (its bytes do not match its hash)")
        return found

    def names(self, task_id: str, prefix: str = "") -> list[str]:
        """The names of a task's artifacts (under a folder, with `prefix` such as `attempt-2/`)."""
        with self.db.read() as session:
            query = select(Artifact.name).where(Artifact.task_id == task_id)
            if prefix:
                query = query.where(sa.func.substr(Artifact.name, 1, len(prefix)) == prefix)
            return sorted(session.exec(query).all())

    def delete(self, task_id: str, prefix: str = "") -> int:
        """Remove a task's artifacts (those under `prefix`); how many."""
        with self.db.write() as session:
            query = delete(Artifact).where(col(Artifact.task_id) == task_id)
            if prefix:
                query = query.where(sa.func.substr(Artifact.name, 1, len(prefix)) == prefix)
            return int(session.execute(query).rowcount)  # type: ignore[attr-defined]

    def prune(self, older_than: timedelta) -> int:
        """Remove the artifacts of tasks that finished longer ago than `older_than`; how many. A task that still
        waits (for approval, say) keeps its own."""
        cutoff = utcnow() - older_than
        with self.db.write() as session:
            finished = select(Task.id).where(col(Task.finished_at).is_not(None), col(Task.finished_at) < cutoff)
            done = session.execute(delete(Artifact).where(col(Artifact.task_id).in_(finished)))
            return int(done.rowcount)  # type: ignore[attr-defined]


def move_in(store: ArtifactStore, legacy_dir: Path | None, task_id: str, name: str) -> bytes | None:
    """An artifact an older version kept on this machine's disk (`<legacy_dir>/<task>/<name>`): stored in `store`
    from now on (when it can be: too large, or its task gone, it is only read)."""
    if legacy_dir is None:
        return None
    try:
        data = (legacy_dir / task_id / name).read_bytes()
    except OSError:
        return None
    try:
        store.put(task_id, name, data)
    except (DockhandError, sa.exc.SQLAlchemyError) as exc:
        log.warning("could not move artifact %s of task %s into the store: %s", name, task_id, exc)
    return data
