"""PNG charts of the reports (matplotlib, imported only when a chart is drawn).

Bars for hot spots, top-N lists, first-contact resolution and points; lines for hot
spots per day / week / month. Chinese labels need a CJK font: the first of
:data:`CJK_FONTS` that matplotlib finds is used; without one, category codes replace
their names so the chart stays legible. matplotlib comes with the ``simulation`` extra
(``pip install 'ticketflow[simulation]'``); the pyplot state machine and the host's
backend are left alone (figures are drawn with the Agg canvas directly).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from ticketflow.errors import TicketflowError
from ticketflow.reports.fcr import FcrRow
from ticketflow.reports.hotspots import HotSpot, TopEntry
from ticketflow.reports.points import PointsRow

#: CJK fonts tried in order (families as matplotlib's font manager names them).
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "Noto Serif CJK SC",
)
#: Series drawn in a time-series chart (the keys with most tickets).
MAX_SERIES = 8


class ChartsUnavailableError(TicketflowError):
    """A chart was asked for but matplotlib is not installed."""


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ChartsUnavailableError(
            "charts need matplotlib: pip install 'ticketflow[simulation]' (or matplotlib)"
        ) from exc
    return matplotlib


@cache
def cjk_font() -> str | None:
    """The first installed font of :data:`CJK_FONTS`, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def _fonts() -> AbstractContextManager[Any]:
    matplotlib = _matplotlib()
    font = cjk_font()
    if font is None:
        return nullcontext()
    return matplotlib.rc_context({"font.family": [font, "DejaVu Sans"]})  # type: ignore[no-any-return]


def display(key: str, label: str) -> str:
    """``label`` when it can be drawn (ASCII, or a CJK font is installed), else ``key``."""
    if label.isascii() or cjk_font() is not None:
        return label
    return key


def bar_chart(
    path: str | Path,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    xlabel: str,
    percent: bool = False,
    integer: bool = False,
) -> Path:
    """Horizontal bars, first label on top; returns the PNG's path."""
    _matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    with _fonts(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        height = max(2.5, 0.42 * len(labels) + 1.4)
        fig = Figure(figsize=(9, height), layout="constrained")
        ax = fig.add_subplot()
        positions = list(range(len(labels)))
        bars = ax.barh(positions, values, color="#3b7dd8")
        ax.set_yticks(positions, labels=list(labels))
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.bar_label(bars, labels=[f"{v:.1%}" if percent else f"{v:g}" for v in values], padding=3)
        ax.margins(x=0.12)
        if percent:
            ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        elif integer:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.savefig(path, format="png", dpi=110)
    return Path(path)


def line_chart(
    path: str | Path,
    buckets: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    ylabel: str,
) -> Path:
    """One line per series over the buckets; returns the PNG's path."""
    _matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with _fonts(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        fig = Figure(figsize=(10, 5), layout="constrained")
        ax = fig.add_subplot()
        for name, values in series.items():
            ax.plot(list(buckets), list(values), marker="o", label=name)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.tick_params(axis="x", labelrotation=45)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)
        if series:
            ax.legend(loc="upper left", fontsize="small")
        fig.savefig(path, format="png", dpi=110)
    return Path(path)


def bucket_range(buckets: Sequence[str], size: str | None) -> list[str]:
    """Every bucket of ``size`` (day, week, month) from the first to the last of the
    sorted labels ``buckets``, so quiet ones show as zero; as given when ``size`` is None."""
    if size is None or len(buckets) < 2:
        return list(buckets)
    if size == "month":
        year, month = int(buckets[0][:4]), int(buckets[0][5:7])
        months: list[str] = []
        while f"{year:04d}-{month:02d}" <= buckets[-1]:
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months
    step = timedelta(days=7 if size == "week" else 1)
    day, last = date.fromisoformat(buckets[0]), date.fromisoformat(buckets[-1])
    filled: list[str] = []
    while day <= last:
        filled.append(day.isoformat())
        day += step
    return filled


def hotspots_chart(
    path: str | Path, rows: Sequence[HotSpot], *, title: str, bucket: str | None = None
) -> Path:
    """Bars for a whole period; lines for the :data:`MAX_SERIES` biggest keys per bucket
    (every ``bucket`` between the first and the last drawn, quiet ones as zero)."""
    if all(r.bucket is None for r in rows):
        return bar_chart(
            path,
            [display(r.key, r.label) for r in rows],
            [r.count for r in rows],
            title=title,
            xlabel="tickets",
            integer=True,
        )
    buckets = bucket_range(sorted({r.bucket or "" for r in rows}), bucket)
    totals: dict[str, int] = {}
    names: dict[str, str] = {}
    for r in rows:
        totals[r.key] = totals.get(r.key, 0) + r.count
        names[r.key] = display(r.key, r.label)
    keys = sorted(totals, key=lambda k: (-totals[k], k))[:MAX_SERIES]
    counts = {(r.bucket, r.key): r.count for r in rows}
    series = {names[k]: [counts.get((b, k), 0) for b in buckets] for k in keys}
    return line_chart(path, buckets, series, title=title, ylabel="tickets")


def top_chart(path: str | Path, rows: Sequence[TopEntry], *, title: str) -> Path:
    return bar_chart(
        path,
        [f"{r.rank}. {display(r.key, r.label)}" for r in rows],
        [r.count for r in rows],
        title=title,
        xlabel="tickets",
        integer=True,
    )


def fcr_chart(path: str | Path, rows: Sequence[FcrRow], *, title: str) -> Path:
    shown = [r for r in rows if r.rate is not None]
    return bar_chart(
        path,
        [f"{r.key} ({r.resolved}/{r.contacts})" for r in shown],
        [r.rate or 0.0 for r in shown],
        title=title,
        xlabel="first-contact resolution rate",
        percent=True,
    )


def points_chart(path: str | Path, rows: Sequence[PointsRow], *, title: str) -> Path:
    return bar_chart(
        path, [r.staff for r in rows], [r.total for r in rows], title=title, xlabel="points"
    )
