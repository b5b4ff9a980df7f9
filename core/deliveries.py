"""Webhook deliveries seen, so that a redelivery creates nothing twice."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, delete

from core.db import Database
from core.models import WebhookDelivery, utcnow

# GitHub lets people redeliver a delivery from the last 3 days; keep a margin.
RETENTION = timedelta(days=7)


class DeliveryLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, *, source: str, delivery_id: str, hook_id: str = "", event: str = "") -> bool:
        """Remember a delivery; False when it was seen before (a redelivery)."""
        try:
            with self.db.write() as session:
                session.add(WebhookDelivery(source=source, delivery_id=delivery_id, hook_id=hook_id, event=event))
        except sa.exc.IntegrityError:
            return False
        return True

    def prune(self, older_than: timedelta = RETENTION) -> int:
        """Forget deliveries too old to be redelivered."""
        with self.db.write() as session:
            result = session.execute(
                delete(WebhookDelivery).where(col(WebhookDelivery.received_at) < utcnow() - older_than)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]
