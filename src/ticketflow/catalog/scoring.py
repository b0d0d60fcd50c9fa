"""Piece-rate types (计件工单类型) from the category tree.

:class:`~ticketflow.plugins.scoring.PieceRateScoring` types a ticket by keywords of its
``category_l1``; tickets classified with catalog codes carry codes there, so this reads
the names along the ticket's category path instead:
``PieceRateScoring(type_of=piece_type_of(Catalog(engine).tree()))``. The tree is the one
given (a snapshot): build the plugin again after importing a new tree.
"""

from __future__ import annotations

from collections.abc import Callable

from ticketflow.catalog.model import CATEGORY_KEYS, CategoryTree
from ticketflow.plugins.scoring import TYPE_KEYWORDS, default_type_of
from ticketflow.views import TicketView


def piece_type_of(tree: CategoryTree) -> Callable[[TicketView], str]:
    """A ``type_of`` for piece-rate scoring: ``difficult`` when escalated, else the first
    type of :data:`~ticketflow.plugins.scoring.TYPE_KEYWORDS` found in the names of the
    ticket's category path (``网络类/家庭宽带/...`` is broadband), else what
    :func:`~ticketflow.plugins.scoring.default_type_of` says."""

    def type_of(ticket: TicketView) -> str:
        fallback = default_type_of(ticket)
        if fallback == "difficult":
            return fallback
        codes = [str(ticket.data.get(k) or "") for k in CATEGORY_KEYS]
        known = [c for c in codes if c in tree]
        if not known:
            return fallback
        names = tree.label(known[-1]).lower()
        for kind, words in TYPE_KEYWORDS:
            if any(w in names for w in words):
                return kind
        return fallback

    return type_of
