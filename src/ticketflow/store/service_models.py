"""Tables of the service features (see the feature's package)."""

from __future__ import annotations

from ticketflow.store.models import Base  # noqa: F401
