"""approval.choice: which of several attempts a person approved

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approval") as batch:
        batch.add_column(sa.Column("choice", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approval") as batch:
        batch.drop_column("choice")
