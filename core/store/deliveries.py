"""Webhook deliveries seen, so that a redelivery creates nothing twice."""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, delete, select, update

from core.models import WebhookDelivery, utcnow
from core.store.database import Database

# GitHub lets people redeliver a delivery from the last 3 days; keep a margin.
RETENTION = timedelta(days=7)
LEASE_SECONDS = 30.0  # a delivery's claim: renewed by its holder, taken over by another intake once it runs out
# On the webhook's request path: one cached INSERT on the table, not an ORM object through a flush.
_INSERT = sa.insert(WebhookDelivery.metadata.tables[str(WebhookDelivery.__tablename__)])


@dataclasses.dataclass(frozen=True, kw_only=True)
class NewDelivery:
    """A delivery as received, before it is stored (`record`'s arguments as one record)."""

    source: str
    delivery_id: str
    hook_id: str = ""
    event: str = ""
    payload: dict[str, Any] | None = None


class DeliveryLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        *,
        source: str,
        delivery_id: str,
        hook_id: str = "",
        event: str = "",
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """Remember a delivery (with its payload when there is work in it); False when it was seen before."""
        row = {"source": source, "delivery_id": delivery_id, "hook_id": hook_id, "event": event, "payload": payload}
        try:
            with self.db.write() as session:
                session.execute(_INSERT, {**row, "received_at": utcnow()})
        except sa.exc.IntegrityError:
            return False
        return True

    def record_now(self, delivery: NewDelivery) -> bool | None:
        """`record` if the store can take the write without waiting (see `Database.write_now`); None when it
        cannot, and nothing was written: then call `record` from a thread."""
        try:
            with self.db.write_now() as conn:
                if conn is None:
                    return None
                conn.execute(_INSERT, {**dataclasses.asdict(delivery), "received_at": utcnow()})
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

    def claim_pending(
        self, source: str, limit: int = 50, *, lease_seconds: float = LEASE_SECONDS
    ) -> list[WebhookDelivery]:
        """Deliveries with work in them that nobody holds, now ours for `lease_seconds` (compare-and-set on a
        token). A token starts with its lease's expiry: once that has passed (its process died), any intake
        takes the delivery over. The holder renews the lease before each delivery it handles (`extend`)."""
        now = time.time()
        token = f"{math.ceil(now + lease_seconds):012d}:{uuid.uuid4().hex}"
        free = _free(now)
        with self.db.write() as session:
            ids = session.exec(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.source == source,
                    col(WebhookDelivery.processed_at).is_(None),
                    col(WebhookDelivery.payload).is_not(None),
                    free,
                )
                .order_by(col(WebhookDelivery.id))
                .limit(limit)
            ).all()
            if not ids:
                return []
            session.execute(
                update(WebhookDelivery).where(col(WebhookDelivery.id).in_(ids), free).values(processing_token=token)
            )
        with self.db.read() as session:
            return list(session.exec(select(WebhookDelivery).where(WebhookDelivery.processing_token == token)).all())

    def extend(self, delivery: WebhookDelivery, lease_seconds: float = LEASE_SECONDS) -> bool:
        """Renew our lease on a claimed delivery; False when it is no longer ours (another intake took it over
        after our lease ran out): then it must not be handled here."""
        held = delivery.processing_token or ""
        renewed = f"{math.ceil(time.time() + lease_seconds):012d}:{held.partition(':')[2]}"
        with self.db.write() as session:
            result = session.execute(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id) == delivery.id,
                    col(WebhookDelivery.processing_token) == held,
                    col(WebhookDelivery.processed_at).is_(None),
                )
                .values(processing_token=renewed)
            )
        if int(result.rowcount) != 1:  # type: ignore[attr-defined]
            return False
        delivery.processing_token = renewed
        return True

    def defer(self, delivery: WebhookDelivery, seconds: float) -> None:
        """Hand a claimed delivery back, to be taken again `seconds` from now (it waits for something to end)."""
        until = f"{math.ceil(time.time() + seconds):012d}:deferred-{uuid.uuid4().hex}"
        with self.db.write() as session:
            session.execute(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id) == delivery.id,
                    col(WebhookDelivery.processing_token) == delivery.processing_token,
                    col(WebhookDelivery.processed_at).is_(None),
                )
                .values(processing_token=until)
            )

    def finish(self, delivery_id: int, outcome: str, task_id: str | None = None) -> None:
        """Record what a delivery led to, and drop its payload."""
        with self.db.write() as session:
            row = session.get(WebhookDelivery, delivery_id)
            if row is not None:
                row.processed_at = utcnow()
                row.outcome = outcome[:2000]
                row.task_id = task_id
                row.payload = None


def _free(now: float) -> sa.ColumnElement[bool]:
    """Not held, or held under a lease that has expired (an expiry up to this second: ';' sorts after ':')."""
    expired = f"{int(now):012d};"
    return sa.or_(col(WebhookDelivery.processing_token).is_(None), col(WebhookDelivery.processing_token) < expired)
