"""Webhook deliveries seen, so that a redelivery creates nothing twice."""

from __future__ import annotations

import sqlalchemy as sa

from core.db import Database
from core.models import WebhookDelivery


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
