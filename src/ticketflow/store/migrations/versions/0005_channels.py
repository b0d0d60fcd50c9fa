"""Intake channels: e-mail reply tokens, inbound messages, SMS drafts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tf_sms_inbound",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("gateway_id", sa.String(length=200), nullable=True),
        sa.Column("sender", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ticket_number", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_sms_inbound")),
        sa.UniqueConstraint("gateway_id", name=op.f("uq_tf_sms_inbound_gateway_id")),
    )
    op.create_index("ix_tf_sms_inbound_sender", "tf_sms_inbound", ["sender", "id"], unique=False)
    op.create_table(
        "tf_sms_draft",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "inbound_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sender", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("ticket_number", sa.String(length=40), nullable=True),
        sa.Column("handled_by", sa.String(length=200), nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["inbound_id"],
            ["tf_sms_inbound.id"],
            name=op.f("fk_tf_sms_draft_inbound_id_tf_sms_inbound"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_sms_draft")),
    )
    op.create_index("ix_tf_sms_draft_state", "tf_sms_draft", ["state", "id"], unique=False)
    op.create_table(
        "tf_reply_token",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ticket_number", sa.String(length=40), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tf_task.id"], name=op.f("fk_tf_reply_token_task_id_tf_task")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tf_ticket.id"], name=op.f("fk_tf_reply_token_ticket_id_tf_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_reply_token")),
    )
    op.create_index("ix_tf_reply_token_task", "tf_reply_token", ["task_id"], unique=False)
    op.create_table(
        "tf_sms_survey",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ticket_number", sa.String(length=40), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "inbound_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["inbound_id"],
            ["tf_sms_inbound.id"],
            name=op.f("fk_tf_sms_survey_inbound_id_tf_sms_inbound"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tf_task.id"], name=op.f("fk_tf_sms_survey_task_id_tf_task")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tf_ticket.id"], name=op.f("fk_tf_sms_survey_ticket_id_tf_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_sms_survey")),
    )
    op.create_index(
        "ix_tf_sms_survey_phone", "tf_sms_survey", ["phone", "state", "id"], unique=False
    )
    op.create_table(
        "tf_inbound_mail",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("message_key", sa.String(length=300), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=True),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ticket_number", sa.String(length=40), nullable=True),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("token_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["tf_reply_token.id"],
            name=op.f("fk_tf_inbound_mail_token_id_tf_reply_token"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_inbound_mail")),
        sa.UniqueConstraint("message_key", name=op.f("uq_tf_inbound_mail_message_key")),
    )
    op.create_index(
        "ix_tf_inbound_mail_ticket", "tf_inbound_mail", ["ticket_number", "id"], unique=False
    )
    op.create_table(
        "tf_channel_attachment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ticket_number", sa.String(length=40), nullable=False),
        sa.Column(
            "inbound_mail_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbound_mail_id"],
            ["tf_inbound_mail.id"],
            name=op.f("fk_tf_channel_attachment_inbound_mail_id_tf_inbound_mail"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tf_ticket.id"],
            name=op.f("fk_tf_channel_attachment_ticket_id_tf_ticket"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_channel_attachment")),
    )
    op.create_index(
        "ix_tf_channel_attachment_ticket",
        "tf_channel_attachment",
        ["ticket_id", "id"],
        unique=False,
    )
    op.create_table(
        "tf_channel_note",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ticket_number", sa.String(length=40), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "inbound_mail_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["inbound_mail_id"],
            ["tf_inbound_mail.id"],
            name=op.f("fk_tf_channel_note_inbound_mail_id_tf_inbound_mail"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tf_ticket.id"], name=op.f("fk_tf_channel_note_ticket_id_tf_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_channel_note")),
    )
    op.create_index(
        "ix_tf_channel_note_ticket", "tf_channel_note", ["ticket_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_tf_channel_note_ticket", table_name="tf_channel_note")
    op.drop_table("tf_channel_note")
    op.drop_index("ix_tf_channel_attachment_ticket", table_name="tf_channel_attachment")
    op.drop_table("tf_channel_attachment")
    op.drop_index("ix_tf_inbound_mail_ticket", table_name="tf_inbound_mail")
    op.drop_table("tf_inbound_mail")
    op.drop_index("ix_tf_sms_survey_phone", table_name="tf_sms_survey")
    op.drop_table("tf_sms_survey")
    op.drop_index("ix_tf_reply_token_task", table_name="tf_reply_token")
    op.drop_table("tf_reply_token")
    op.drop_index("ix_tf_sms_draft_state", table_name="tf_sms_draft")
    op.drop_table("tf_sms_draft")
    op.drop_index("ix_tf_sms_inbound_sender", table_name="tf_sms_inbound")
    op.drop_table("tf_sms_inbound")
