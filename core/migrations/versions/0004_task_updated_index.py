"""task.updated_at index (the TUI's incremental polling)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 23:55:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_task_updated_at", "task", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_task_updated_at", table_name="task")
