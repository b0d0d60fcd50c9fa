"""Worklists and reports at scale: planner statistics and a period index

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

PostgreSQL estimates "open and unassigned" tasks as the product of two rare conditions,
though nearly every unassigned task is an open one; at a million tickets it then reads
every unassigned task to build one group's queue. Extended statistics on (state,
assignee) give it the true proportion. Reports by period filter tickets by process and
opening time.
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tf_ticket", schema=None) as batch_op:
        batch_op.create_index("ix_tf_ticket_process_opened", ["process_id", "opened_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE STATISTICS IF NOT EXISTS st_tf_task_state_assignee (mcv) "
            "ON state, assignee FROM tf_task"
        )
        op.execute("ANALYZE tf_task")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS st_tf_task_state_assignee")
    with op.batch_alter_table("tf_ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_tf_ticket_process_opened")
