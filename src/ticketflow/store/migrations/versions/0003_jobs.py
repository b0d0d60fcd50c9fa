"""jobs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tf_job",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tf_ticket.id"], name=op.f("fk_tf_job_ticket_id_tf_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_job")),
        sa.UniqueConstraint("key", name=op.f("uq_tf_job_key")),
    )
    with op.batch_alter_table("tf_job", schema=None) as batch_op:
        batch_op.create_index("ix_tf_job_due", ["state", "due_at"], unique=False)
        batch_op.create_index("ix_tf_job_ticket", ["ticket_id", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tf_job", schema=None) as batch_op:
        batch_op.drop_index("ix_tf_job_ticket")
        batch_op.drop_index("ix_tf_job_due")

    op.drop_table("tf_job")
