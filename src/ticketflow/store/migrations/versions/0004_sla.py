"""sla

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tf_ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sla_breached_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("paused_seconds", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_index("ix_tf_ticket_status_due", ["status", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tf_ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_tf_ticket_status_due")
        batch_op.drop_column("paused_seconds")
        batch_op.drop_column("paused_at")
        batch_op.drop_column("sla_breached_at")
        batch_op.drop_column("due_at")
