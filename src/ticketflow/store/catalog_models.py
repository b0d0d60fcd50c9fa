"""Tables of the catalog features (see :mod:`ticketflow.catalog`).

* ``tf_category`` - one row per node of the complaint category tree (levels 1-4), with
  the node's responsible department and person for every region (网格化).
* ``tf_category_grid`` - regional exceptions: in that region, that node's department and
  person differ from the node's own.

Tickets refer to nodes by ``code`` (ticket data ``category_l1`` .. ``category_l4``).
"""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ticketflow.store.models import Base, BigId


class CategoryRow(Base):
    __tablename__ = "tf_category"
    __table_args__ = (Index("ix_tf_category_parent", "parent_code", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(Integer)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("tf_category.code"))
    #: Order among siblings (the order of the imported file).
    position: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)
    #: The node concerns value-added services of a service provider (SP类).
    sp: Mapped[bool] = mapped_column(Boolean)
    sp_name: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(200))
    person: Mapped[str | None] = mapped_column(String(200))


class CategoryGridRow(Base):
    __tablename__ = "tf_category_grid"
    __table_args__ = (
        UniqueConstraint("category_code", "region", name="uq_tf_category_grid_code_region"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("tf_category.code", ondelete="CASCADE"))
    region: Mapped[str] = mapped_column(String(100))
    department: Mapped[str] = mapped_column(String(200))
    person: Mapped[str | None] = mapped_column(String(200))
