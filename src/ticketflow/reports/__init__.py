"""Reports over the store, computed by SQL aggregation (no workflow is loaded, no ticket
is read into Python one by one); they run on SQLite and PostgreSQL.

* :func:`sla_compliance`, :func:`overdue` - time limits by department, region, category;
* :func:`hotspots`, :func:`top` - complaints by category level, SP, region, channel or
  customer, per day / week / month (投诉热点, TOP-N);
* :func:`first_contact_resolution` - resolved at the front desk, by channel, intake
  department, agent or region (一次性解决率);
* :func:`staff_points` - piece-rate points per staff member (计件积分).

Every report's rows have ``COLUMNS`` and ``values()`` for :func:`write_csv`; charts are
in :mod:`ticketflow.reports.charts` (needs matplotlib). See docs/reports.md.
"""

from __future__ import annotations

from ticketflow.reports.fcr import FCR_DIMENSIONS, FcrRow, fcr_total, first_contact_resolution
from ticketflow.reports.hotspots import DIMENSIONS as HOTSPOT_DIMENSIONS
from ticketflow.reports.hotspots import HotSpot, TopEntry, hotspots, top
from ticketflow.reports.output import ReportRow, write_csv
from ticketflow.reports.points import PointsRow, staff_points
from ticketflow.reports.query import BUCKETS
from ticketflow.reports.sla import (
    DIMENSIONS,
    NONE,
    ComplianceRow,
    OverdueTask,
    overdue,
    sla_compliance,
)

__all__ = [
    "BUCKETS",
    "DIMENSIONS",
    "FCR_DIMENSIONS",
    "HOTSPOT_DIMENSIONS",
    "NONE",
    "ComplianceRow",
    "FcrRow",
    "HotSpot",
    "OverdueTask",
    "PointsRow",
    "ReportRow",
    "TopEntry",
    "fcr_total",
    "first_contact_resolution",
    "hotspots",
    "overdue",
    "sla_compliance",
    "staff_points",
    "top",
    "write_csv",
]
