"""Service-centre features around intake: one point of complaint (the customer timeline
and repeat complaints), mass faults and planned outages, complaint spikes, and the
knowledge base. See ``docs/channels.md``.

Like the engine's methods, every public function takes ``session=`` to run inside the
host's own transaction (as a SAVEPOINT, the commit left to the host)."""

from __future__ import annotations

from ticketflow.service.faults import (
    DEFAULT_CLOSE_STEPS,
    CloseStep,
    FaultMatch,
    FaultResolution,
    FaultView,
    declare_fault,
    fault,
    faults,
    resolve_fault,
)
from ticketflow.service.intake import (
    Intake,
    IntakePreview,
    IntakeResult,
    RepeatMatch,
    RepeatPolicy,
    TicketSummary,
)
from ticketflow.service.knowledge import (
    KnowledgeEntry,
    KnowledgeHit,
    add_entry,
    edit_entry,
    entries,
    entry,
    entry_from_ticket,
    retire_entry,
    search,
)
from ticketflow.service.notices import Notices
from ticketflow.service.spikes import SpikeAlert, SpikePolicy, alerts, poisson_threshold
from ticketflow.service.timeline import TimelineEntry, timeline

__all__ = [
    "DEFAULT_CLOSE_STEPS",
    "CloseStep",
    "FaultMatch",
    "FaultResolution",
    "FaultView",
    "Intake",
    "IntakePreview",
    "IntakeResult",
    "KnowledgeEntry",
    "KnowledgeHit",
    "Notices",
    "RepeatMatch",
    "RepeatPolicy",
    "SpikeAlert",
    "SpikePolicy",
    "TicketSummary",
    "TimelineEntry",
    "add_entry",
    "alerts",
    "declare_fault",
    "edit_entry",
    "entries",
    "entry",
    "entry_from_ticket",
    "fault",
    "faults",
    "poisson_threshold",
    "resolve_fault",
    "retire_entry",
    "search",
    "timeline",
]
