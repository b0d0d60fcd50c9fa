"""Service centre: ticket links, mass faults, knowledge base

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tf_service_fault",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("starts_at", WHEN, nullable=False),
        sa.Column("ends_at", WHEN, nullable=True),
        sa.Column("open_tickets", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("declared_by", sa.String(length=200), nullable=True),
        sa.Column("declared_at", WHEN, nullable=False),
        sa.Column("resolved_at", WHEN, nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_service_fault")),
    )
    with op.batch_alter_table("tf_service_fault", schema=None) as batch_op:
        batch_op.create_index("ix_tf_service_fault_status", ["status", "starts_at"], unique=False)

    op.create_table(
        "tf_service_contact",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("category", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("ticket_id", ID, nullable=True),
        sa.Column("ticket_number", sa.String(length=40), nullable=True),
        sa.Column("repeat_of", sa.String(length=40), nullable=True),
        sa.Column("fault_id", ID, nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fault_id"],
            ["tf_service_fault.id"],
            name=op.f("fk_tf_service_contact_fault_id_tf_service_fault"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tf_ticket.id"], name=op.f("fk_tf_service_contact_ticket_id_tf_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_service_contact")),
    )
    with op.batch_alter_table("tf_service_contact", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tf_service_contact_customer", ["customer_id", "received_at"], unique=False
        )
        batch_op.create_index(
            "ix_tf_service_contact_area", ["region", "category", "received_at"], unique=False
        )
        batch_op.create_index("ix_tf_service_contact_ticket", ["ticket_id"], unique=False)
        batch_op.create_index(
            "ix_tf_service_contact_fault", ["fault_id", "customer_id"], unique=False
        )

    op.create_table(
        "tf_service_alert",
        sa.Column("id", ID, nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=200), nullable=False),
        sa.Column("bucket_start", WHEN, nullable=False),
        sa.Column("window_start", WHEN, nullable=False),
        sa.Column("window_end", WHEN, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("raised_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_service_alert")),
        sa.UniqueConstraint(
            "region", "category", "bucket_start", name="uq_tf_service_alert_bucket"
        ),
    )
    with op.batch_alter_table("tf_service_alert", schema=None) as batch_op:
        batch_op.create_index("ix_tf_service_alert_raised", ["raised_at"], unique=False)

    op.create_table(
        "tf_service_kb_entry",
        sa.Column("id", ID, nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column("source_ticket_id", ID, nullable=True),
        sa.Column("source_ticket_number", sa.String(length=40), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.Column("retired_at", WHEN, nullable=True),
        sa.Column("retired_by", sa.String(length=200), nullable=True),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_ticket_id"],
            ["tf_ticket.id"],
            name=op.f("fk_tf_service_kb_entry_source_ticket_id_tf_ticket"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_service_kb_entry")),
    )
    with op.batch_alter_table("tf_service_kb_entry", schema=None) as batch_op:
        batch_op.create_index("ix_tf_service_kb_entry_retired", ["retired_at"], unique=False)


def downgrade() -> None:
    op.drop_table("tf_service_kb_entry")
    op.drop_table("tf_service_alert")
    op.drop_table("tf_service_contact")
    op.drop_table("tf_service_fault")
