"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tf_definition",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("filename", sa.String(length=1000), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.LargeBinary(), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deployed_by", sa.String(length=200), nullable=True),
        sa.Column("dependencies", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_definition")),
        sa.UniqueConstraint("process_id", "version", name="uq_tf_definition_process_version"),
    )
    with op.batch_alter_table("tf_definition", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tf_definition_process_id"), ["process_id"], unique=False
        )

    op.create_table(
        "tf_ticket",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=True),
        sa.Column(
            "definition_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("customer_tier", sa.String(length=40), nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("business_key", sa.String(length=200), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_element", sa.String(length=200), nullable=True),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["tf_definition.id"],
            name=op.f("fk_tf_ticket_definition_id_tf_definition"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_ticket")),
        sa.UniqueConstraint("number", name=op.f("uq_tf_ticket_number")),
    )
    with op.batch_alter_table("tf_ticket", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tf_ticket_business_key", ["process_id", "business_key"], unique=False
        )
        batch_op.create_index("ix_tf_ticket_customer", ["customer_id", "opened_at"], unique=False)
        batch_op.create_index("ix_tf_ticket_status_process", ["status", "process_id"], unique=False)

    op.create_table(
        "tf_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=True),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tf_ticket.id"], name=op.f("fk_tf_event_ticket_id_tf_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_event")),
    )
    with op.batch_alter_table("tf_event", schema=None) as batch_op:
        batch_op.create_index("ix_tf_event_ticket", ["ticket_id", "id"], unique=False)

    op.create_table(
        "tf_task",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ticket_number", sa.String(length=40), nullable=False),
        sa.Column(
            "definition_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("spiff_task_id", sa.String(length=36), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("lane", sa.String(length=200), nullable=True),
        sa.Column("candidate_groups", sa.String(length=1000), nullable=False),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.String(length=200), nullable=True),
        sa.Column("form_data", sa.JSON(), nullable=True),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["tf_definition.id"],
            name=op.f("fk_tf_task_definition_id_tf_definition"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tf_ticket.id"], name=op.f("fk_tf_task_ticket_id_tf_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_task")),
    )
    with op.batch_alter_table("tf_task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tf_task_assignee_worklist", ["assignee", "state", "due_at"], unique=False
        )
        batch_op.create_index(
            "ix_tf_task_region_worklist", ["region", "state", "due_at"], unique=False
        )
        batch_op.create_index("ix_tf_task_state_due", ["state", "due_at"], unique=False)
        batch_op.create_index("ix_tf_task_ticket_state", ["ticket_id", "state"], unique=False)

    op.create_table(
        "tf_workflow_state",
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tf_ticket.id"], name=op.f("fk_tf_workflow_state_ticket_id_tf_ticket")
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_tf_workflow_state")),
    )
    op.create_table(
        "tf_task_candidate",
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("group_name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tf_task.id"], name=op.f("fk_tf_task_candidate_task_id_tf_task")
        ),
        sa.PrimaryKeyConstraint("task_id", "group_name", name=op.f("pk_tf_task_candidate")),
    )
    with op.batch_alter_table("tf_task_candidate", schema=None) as batch_op:
        batch_op.create_index("ix_tf_task_candidate_group", ["group_name", "task_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tf_task_candidate", schema=None) as batch_op:
        batch_op.drop_index("ix_tf_task_candidate_group")

    op.drop_table("tf_task_candidate")
    op.drop_table("tf_workflow_state")
    with op.batch_alter_table("tf_task", schema=None) as batch_op:
        batch_op.drop_index("ix_tf_task_ticket_state")
        batch_op.drop_index("ix_tf_task_state_due")
        batch_op.drop_index("ix_tf_task_region_worklist")
        batch_op.drop_index("ix_tf_task_assignee_worklist")

    op.drop_table("tf_task")
    with op.batch_alter_table("tf_event", schema=None) as batch_op:
        batch_op.drop_index("ix_tf_event_ticket")

    op.drop_table("tf_event")
    with op.batch_alter_table("tf_ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_tf_ticket_status_process")
        batch_op.drop_index("ix_tf_ticket_customer")
        batch_op.drop_index("ix_tf_ticket_business_key")

    op.drop_table("tf_ticket")
    with op.batch_alter_table("tf_definition", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tf_definition_process_id"))

    op.drop_table("tf_definition")
