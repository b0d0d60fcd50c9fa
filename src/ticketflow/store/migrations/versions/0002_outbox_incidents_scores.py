"""outbox incidents scores

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
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
        "tf_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("ticket_number", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tf_ticket.id"], name=op.f("fk_tf_outbox_ticket_id_tf_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_tf_outbox_idempotency_key")),
    )
    with op.batch_alter_table("tf_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_tf_outbox_due", ["state", "next_attempt_at"], unique=False)

    op.create_table(
        "tf_score",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ticket_number", sa.String(length=40), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("staff", sa.String(length=200), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tf_ticket.id"], name=op.f("fk_tf_score_ticket_id_tf_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_score")),
    )
    with op.batch_alter_table("tf_score", schema=None) as batch_op:
        batch_op.create_index("ix_tf_score_staff", ["staff", "at"], unique=False)
        batch_op.create_index("ix_tf_score_ticket", ["ticket_id"], unique=False)

    op.create_table(
        "tf_incident",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("ticket_number", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["tf_outbox.id"], name=op.f("fk_tf_incident_outbox_id_tf_outbox")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tf_ticket.id"], name=op.f("fk_tf_incident_ticket_id_tf_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_incident")),
    )
    with op.batch_alter_table("tf_incident", schema=None) as batch_op:
        batch_op.create_index("ix_tf_incident_open", ["resolved_at", "id"], unique=False)

    with op.batch_alter_table("tf_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tf_task", schema=None) as batch_op:
        batch_op.drop_column("details")

    with op.batch_alter_table("tf_incident", schema=None) as batch_op:
        batch_op.drop_index("ix_tf_incident_open")

    op.drop_table("tf_incident")
    with op.batch_alter_table("tf_score", schema=None) as batch_op:
        batch_op.drop_index("ix_tf_score_ticket")
        batch_op.drop_index("ix_tf_score_staff")

    op.drop_table("tf_score")
    with op.batch_alter_table("tf_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_tf_outbox_due")

    op.drop_table("tf_outbox")
