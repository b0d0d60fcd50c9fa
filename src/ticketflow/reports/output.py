"""Report rows out: CSV files (UTF-8 with a BOM, so spreadsheets show Chinese correctly)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Protocol


class ReportRow(Protocol):
    """A row of any report: its column names and its values in that order."""

    COLUMNS: ClassVar[tuple[str, ...]]

    def values(self) -> tuple[object, ...]: ...


def write_csv(path: str | Path, columns: Sequence[str], rows: Sequence[ReportRow]) -> int:
    """Write ``rows`` under a header of ``columns``; returns the number of rows written."""
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row.values())
    return len(rows)
