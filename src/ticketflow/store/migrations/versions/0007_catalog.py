"""Category tree and responsibility grid

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tf_category",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("parent_code", sa.String(length=64), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sp", sa.Boolean(), nullable=False),
        sa.Column("sp_name", sa.String(length=200), nullable=True),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("person", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["tf_category.code"],
            name=op.f("fk_tf_category_parent_code_tf_category"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_category")),
        sa.UniqueConstraint("code", name=op.f("uq_tf_category_code")),
    )
    with op.batch_alter_table("tf_category", schema=None) as batch_op:
        batch_op.create_index("ix_tf_category_parent", ["parent_code", "position"], unique=False)

    op.create_table(
        "tf_category_grid",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("category_code", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("person", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["category_code"],
            ["tf_category.code"],
            name=op.f("fk_tf_category_grid_category_code_tf_category"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tf_category_grid")),
        sa.UniqueConstraint("category_code", "region", name="uq_tf_category_grid_code_region"),
    )


def downgrade() -> None:
    op.drop_table("tf_category_grid")
    with op.batch_alter_table("tf_category", schema=None) as batch_op:
        batch_op.drop_index("ix_tf_category_parent")
    op.drop_table("tf_category")
