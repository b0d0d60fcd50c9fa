"""A ticket's side effects by index

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Listing the outbox messages of one ticket (``Engine.outbox_messages(ticket=...)``, the
``ticketflow outbox`` command) read the whole outbox: ``tf_outbox`` had no index on its
ticket.
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tf_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_tf_outbox_ticket", ["ticket_id", "id"])


def downgrade() -> None:
    with op.batch_alter_table("tf_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_tf_outbox_ticket")
