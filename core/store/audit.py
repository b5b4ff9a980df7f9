"""The audit trail: who triggered, approved, rejected or cancelled what, and every refusal.

Kept apart from task events because a refusal often has no task; entries that concern a task name it.
Readable through the API (`GET /audit`) and the TUI (`u`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import col, select

from core.models import AuditEntry, utcnow
from core.store.database import Database

log = logging.getLogger(__name__)


class AuditAction(StrEnum):
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    RETRY = "retry"
    TRIGGER = "trigger"


class AuditOutcome(StrEnum):
    DONE = "done"
    REFUSED = "refused"
    RATE_LIMITED = "rate-limited"


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    actor: str
    source: str
    action: AuditAction
    target: str
    outcome: AuditOutcome
    detail: str = ""
    task_id: str | None = None


class AuditLog:
    def __init__(self, db: Database, redact: object = None) -> None:
        self.db = db
        self._redact = redact if callable(redact) else (lambda text: text)

    def record(self, entry: AuditRecord) -> None:
        """Stored in its own transaction; a failure to audit is logged, never the reason an action fails."""
        try:
            with self.db.write() as session:
                session.add(
                    AuditEntry(
                        at=utcnow(),
                        actor=entry.actor[:200],
                        source=entry.source[:32],
                        action=entry.action.value,
                        target=entry.target[:300],
                        outcome=entry.outcome.value,
                        detail=self._redact(entry.detail[:2000]),
                        task_id=entry.task_id,
                    )
                )
        except Exception:
            log.exception("could not write an audit entry: %s", entry)

    def recent(self, limit: int = 200, *, task_id: str | None = None) -> list[AuditEntry]:
        query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
        if task_id is not None:
            query = query.where(AuditEntry.task_id == task_id)
        with self.db.read() as session:
            return list(session.exec(query).all())
