"""Time: the injectable clock (business calendars and SLAs build on it)."""

from ticketflow.time.clock import Clock, FixedClock, SystemClock

__all__ = ["Clock", "FixedClock", "SystemClock"]
