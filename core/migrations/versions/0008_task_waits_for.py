"""task.waits_for: a follow-up is not claimed before the step it continues has ended

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 06:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task") as batch:
        batch.add_column(sa.Column("waits_for", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task") as batch:
        batch.drop_column("waits_for")
