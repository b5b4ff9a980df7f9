"""github intake

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 22:16:39.982186
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("repositories", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhookdelivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("processing_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("processed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_webhookdelivery_processed_at"), ["processed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhookdelivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhookdelivery_processed_at"))
        batch_op.drop_column("outcome")
        batch_op.drop_column("processed_at")
        batch_op.drop_column("processing_token")
        batch_op.drop_column("payload")

    op.drop_table("installation")
