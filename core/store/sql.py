"""The store on SQLAlchemy: SQLite (the default, one file) or PostgreSQL, put together from its parts."""

from __future__ import annotations

from core.artifacts import ArtifactStore
from core.errors import SettingsError
from core.events import EventBus
from core.redaction import Redactor
from core.settings import Settings
from core.store.approvals import ApprovalGates
from core.store.artifacts import TaskArtifacts
from core.store.audit import AuditLog
from core.store.board import BoardQueries
from core.store.channels import ChannelRepositories
from core.store.database import Database
from core.store.deliveries import DeliveryLog
from core.store.fleet import Fleet
from core.store.installations import Installations
from core.store.interface import Store
from core.store.journal import Journal
from core.store.logs import TaskLogs
from core.store.notifications import NotificationBook
from core.store.queue import TaskQueue
from core.store.queue_types import QueuePolicy
from core.store.sandboxes import SandboxRecords
from core.store.schedules import ScheduleBook
from core.store.stages import StageRecorder
from core.store.workers import WorkerRoster


def queue_policy(settings: Settings) -> QueuePolicy:
    return QueuePolicy(
        lease_seconds=settings.lease_seconds,
        per_repo_limit=settings.per_repo_limit,
        default_max_retries=settings.max_retries,
        backoff_seconds=settings.retry_backoff_seconds,
        backoff_max_seconds=settings.retry_backoff_max_seconds,
        max_takeovers=settings.max_takeovers,
        repo_tasks_per_hour=settings.repo_tasks_per_hour,
        submissions_per_minute=settings.submissions_per_minute,
    )


def open_sql_store(settings: Settings, *, migrate: bool = True, bus: EventBus | None = None) -> Store:
    """The store at `settings.effective_database_url`, its schema brought to the newest migration first
    (unless `migrate` is False); log lines and audit entries are redacted with the settings' secrets."""
    db = Database(settings.effective_database_url)
    if migrate:
        db.migrate()
    journal = Journal(db, bus or EventBus())
    redact = Redactor.from_settings(settings).text
    return Store(
        lifecycle=db,
        tasks=TaskQueue(journal, queue_policy(settings)),
        journal=journal,
        stages=StageRecorder(journal),
        logs=TaskLogs(db, redact),
        audit=AuditLog(db, redact),
        approvals=ApprovalGates(journal),
        deliveries=DeliveryLog(db),
        notifications=NotificationBook(db),
        schedules=ScheduleBook(db),
        sandboxes=SandboxRecords(db),
        installations=Installations(db),
        channels=ChannelRepositories(db),
        board=BoardQueries(db),
        artifacts=artifact_store(settings, db),
        fleet=Fleet(db),
        workers=WorkerRoster(db, heartbeat_seconds=settings.effective_heartbeat_seconds),
    )


def artifact_store(settings: Settings, db: Database) -> ArtifactStore:
    """In the database, or in the configured S3-compatible bucket."""
    if not settings.artifact_bucket:
        return TaskArtifacts(db, max_bytes=settings.artifact_max_bytes, legacy_dir=settings.artifacts_dir)
    try:
        import boto3
    except ImportError:
        raise SettingsError("DOCKHAND_ARTIFACT_BUCKET needs boto3: pip install '.[s3]'") from None
    from core.store.bucket_artifacts import BucketArtifacts

    client = boto3.client(
        "s3", endpoint_url=settings.artifact_bucket_endpoint_url, region_name=settings.artifact_bucket_region
    )
    return BucketArtifacts(
        client,
        settings.artifact_bucket,
        db,
        prefix=settings.artifact_bucket_prefix,
        max_bytes=settings.artifact_max_bytes,
        legacy_dir=settings.artifacts_dir,
    )
