"""workerprocess: the processes running workers, on any machine, with their last heartbeat

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workerprocess",
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_workerprocess_seen_at", "workerprocess", ["seen_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_workerprocess_seen_at", table_name="workerprocess")
    op.drop_table("workerprocess")
