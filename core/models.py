"""What dockhand stores: SQLModel tables, the same on SQLite and PostgreSQL.

Statuses are stored as short strings (no native enum types, so migrations stay portable) and read
back as the Enum members of `core.states`. Times are stored as naive UTC and read back aware.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from core.states import (
    ApprovalStatus,
    EventKind,
    LogStream,
    SandboxState,
    StageStatus,
    TaskPriority,
    TaskStatus,
    TaskType,
    TriggerSource,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_task_id() -> str:
    return uuid.uuid4().hex[:12]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: dockhand stores only aware UTC times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _enum(enum_cls: type[Enum]) -> sa.Enum:
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


def _time(*, nullable: bool = True, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, index=index)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)


def _task_fk() -> Any:
    return Field(foreign_key="task.id", ondelete="CASCADE", max_length=32)


class Task(SQLModel, table=True):
    """One unit of work: a pipeline run for a task type, with its lease and retry state."""

    __table_args__ = (
        sa.Index("ix_task_claim", "status", "run_after"),
        sa.Index("ix_task_repository_status", "repository", "status"),
        sa.Index("ix_task_lease", "status", "lease_expires_at"),
        sa.Index("ix_task_updated_at", "updated_at"),
        sa.Index("ix_task_created_at", "created_at"),  # rate limits count recent tasks
    )

    id: str = Field(default_factory=new_task_id, primary_key=True, max_length=32)
    type: TaskType = Field(sa_type=_enum(TaskType))
    priority: TaskPriority = Field(default=TaskPriority.MEDIUM, sa_type=_enum(TaskPriority))
    priority_rank: int = Field(default=TaskPriority.MEDIUM.rank)
    status: TaskStatus = Field(default=TaskStatus.PENDING, sa_type=_enum(TaskStatus))
    repository: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    trigger_source: TriggerSource = Field(default=TriggerSource.API, sa_type=_enum(TriggerSource))
    triggered_by: str = Field(default="", max_length=200)
    trigger_ref: str | None = Field(default=None, max_length=500)
    dedup_key: str | None = Field(default=None, max_length=300, unique=True)
    waits_for: str | None = Field(default=None, max_length=32)
    """A task that must end before this one is claimed (a follow-up waits for the step it continues)."""

    created_at: datetime = _time(nullable=False)
    updated_at: datetime = _time(nullable=False)
    run_after: datetime = _time(nullable=False)
    started_at: datetime | None = _time()
    finished_at: datetime | None = _time()

    attempt: int = 0
    retry_count: int = 0
    max_retries: int = 2
    timeout_seconds: float | None = None

    worker_id: str | None = Field(default=None, max_length=200)
    claim_token: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = _time()
    cancel_requested: bool = False

    result: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    error: str | None = Field(default=None, sa_type=sa.Text)
    metrics: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)


class TaskStage(SQLModel, table=True):
    """One stage of one attempt of a task's pipeline."""

    __table_args__ = (sa.UniqueConstraint("task_id", "attempt", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = _task_fk()
    attempt: int
    position: int
    name: str = Field(max_length=100)
    status: StageStatus = Field(default=StageStatus.PENDING, sa_type=_enum(StageStatus))
    started_at: datetime | None = _time()
    finished_at: datetime | None = _time()
    duration_seconds: float | None = None
    error: str | None = Field(default=None, sa_type=sa.Text)


class TaskEvent(SQLModel, table=True):
    """An append-only record of a state change or stage transition."""

    __table_args__ = (sa.Index("ix_taskevent_task_id_id", "task_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = _task_fk()
    kind: EventKind = Field(sa_type=_enum(EventKind))
    status: TaskStatus | None = Field(default=None, sa_type=_enum(TaskStatus))
    stage: str | None = Field(default=None, max_length=100)
    message: str = Field(default="", sa_type=sa.Text)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = _time(nullable=False)


class TaskLog(SQLModel, table=True):
    """One line of a task's output; append-only, tailed by id."""

    __table_args__ = (sa.Index("ix_tasklog_task_id_id", "task_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = _task_fk()
    stream: LogStream = Field(default=LogStream.STDOUT, sa_type=_enum(LogStream))
    line: str = Field(sa_type=sa.Text)
    created_at: datetime = _time(nullable=False)


class WebhookDelivery(SQLModel, table=True):
    """A delivery seen from a webhook source, kept to drop redeliveries."""

    __table_args__ = (sa.UniqueConstraint("source", "hook_id", "delivery_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    hook_id: str = Field(default="", max_length=64)
    delivery_id: str = Field(max_length=128)
    event: str = Field(default="", max_length=64)
    task_id: str | None = Field(default=None, foreign_key="task.id", ondelete="SET NULL", max_length=32)
    received_at: datetime = _time(nullable=False, index=True)
    payload: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON(none_as_null=True))
    """Kept until processed, so the work a delivery asks for survives a restart."""
    processing_token: str | None = Field(default=None, max_length=64)
    processed_at: datetime | None = _time(index=True)
    outcome: str | None = Field(default=None, sa_type=sa.Text)


class Installation(SQLModel, table=True):
    """A GitHub App installation and the repositories it covers."""

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    account: str = Field(max_length=200)
    repositories: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    active: bool = True
    updated_at: datetime = _time(nullable=False)


class Sandbox(SQLModel, table=True):
    """A Docker sandbox dockhand created, keyed by its reusable sandbox ID."""

    id: str = Field(primary_key=True, max_length=200)
    container_id: str | None = Field(default=None, max_length=128)
    image: str = Field(default="", max_length=300)
    state: SandboxState = Field(default=SandboxState.CREATING, sa_type=_enum(SandboxState))
    task_id: str | None = Field(default=None, foreign_key="task.id", ondelete="SET NULL", max_length=32)
    created_at: datetime = _time(nullable=False)
    last_used_at: datetime = _time(nullable=False)


class Approval(SQLModel, table=True):
    """A human decision a task waits for (e.g. push the branch and open the PR)."""

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = _task_fk()
    action: str = Field(max_length=64)
    status: ApprovalStatus = Field(default=ApprovalStatus.PENDING, sa_type=_enum(ApprovalStatus))
    summary: str = Field(default="", sa_type=sa.Text)
    requested_at: datetime = _time(nullable=False)
    expires_at: datetime | None = _time()
    decided_at: datetime | None = _time()
    decided_by: str | None = Field(default=None, max_length=200)
    choice: int | None = None
    """Which of several proposals the person approved (an attempt's number); None: the one offered."""


class Schedule(SQLModel, table=True):
    """A pipeline run on a cron schedule."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    cron: str = Field(max_length=100)
    type: TaskType = Field(sa_type=_enum(TaskType))
    priority: TaskPriority = Field(default=TaskPriority.LOW, sa_type=_enum(TaskPriority))
    repository: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    enabled: bool = True
    created_at: datetime = _time(nullable=False)


class Notification(SQLModel, table=True):
    """Where a task's progress is shown outside dockhand (a GitHub comment, a Slack message), to edit it in place."""

    __table_args__ = (sa.UniqueConstraint("task_id", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = _task_fk()
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=200)
    created_at: datetime = _time(nullable=False)


class ChannelRepository(SQLModel, table=True):
    """The repository a chat channel works on by default: a request there needs no repository."""

    channel: str = Field(primary_key=True, max_length=32)
    repository: str = Field(max_length=200)
    set_by: str = Field(default="", max_length=200)
    updated_at: datetime = _time(nullable=False)


class StoredSecret(SQLModel, table=True):
    """A credential sealed with AES-256-GCM under the master key `key_id` (see core/secrets.py)."""

    __tablename__ = "secret"

    name: str = Field(primary_key=True, max_length=64)
    key_id: str = Field(max_length=16)
    nonce: bytes = Field(sa_type=sa.LargeBinary)
    ciphertext: bytes = Field(sa_type=sa.LargeBinary)
    updated_at: datetime = _time(nullable=False)


class AuditEntry(SQLModel, table=True):
    """Who did what to what, and how it ended: every trigger, decision, cancellation and refusal."""

    __table_args__ = (sa.Index("ix_audit_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _time(nullable=False)
    actor: str = Field(default="", max_length=200)
    source: str = Field(default="", max_length=32)
    action: str = Field(max_length=32)
    target: str = Field(default="", max_length=300)
    outcome: str = Field(max_length=32)
    detail: str = Field(default="", sa_type=sa.Text)
    task_id: str | None = Field(default=None, max_length=32)


class Artifact(SQLModel, table=True):
    """A file a task made that a later stage, an approval, a follow-up or a screen reads (a change's bundle and
    diff, test reports, coverage): kept in the database, so any machine can read it. Its bytes are in chunks."""

    __table_args__ = (sa.UniqueConstraint("task_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = _task_fk()
    name: str = Field(max_length=500)
    """Its path under the task: `change.bundle`, `attempt-2/change.diff`, `round-1/reports/junit.xml`."""
    size: int = 0
    sha256: str = Field(max_length=64)
    created_at: datetime = _time(nullable=False)


class ArtifactChunk(SQLModel, table=True):
    """One piece of an artifact's bytes, in order."""

    artifact_id: int = Field(foreign_key="artifact.id", ondelete="CASCADE", primary_key=True)
    seq: int = Field(primary_key=True)
    data: bytes = Field(sa_type=sa.LargeBinary)


class WorkerProcess(SQLModel, table=True):
    """A process that runs workers (`dockhand serve`, `dockhand worker`) on some machine, as it last said."""

    id: str = Field(primary_key=True, max_length=300)  # host:pid:nonce
    host: str = Field(max_length=255)
    pid: int = 0
    threads: int = 0
    running: int = 0  # tasks it ran when it last said
    started_at: datetime = _time(nullable=False)
    seen_at: datetime = _time(nullable=False, index=True)
