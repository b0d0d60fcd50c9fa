"""Complaint spikes: more contacts for a region and category than its history explains.

At every contact with a region and a category, intake counts the contacts of that region
and category in the last ``window`` (default one hour, the new contact included) and
compares the count with the *baseline*: the mean count in the same window of the same
weekday over the previous ``weeks`` weeks (default 4), so daily and weekly rhythms are
accounted for. The count is a spike when it reaches the threshold

    threshold = max(min_count, smallest k with P(X >= k) <= alpha),  X ~ Poisson(baseline)

with ``alpha`` = 0.001 (a one-in-a-thousand chance under normal traffic) and
``min_count`` = 5 (a handful of calls is never a spike); a baseline below
``min_baseline`` (no history yet) counts as ``min_baseline``. For example a baseline of
2 calls an hour gives a threshold of 9, a baseline of 20 gives 36.

A spike records a ``tf_service_alert`` row (one per region, category and window bucket)
and notifies the supervisor group. All of it is one indexed query on
``tf_service_contact`` (region, category, received_at), not a scan of tickets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ticketflow.engine import Engine
from ticketflow.service.notices import Notices
from ticketflow.service.units import unit
from ticketflow.store.service_models import AlertRow, ContactRow

EPOCH = datetime(1970, 1, 5, tzinfo=timezone.utc)  # a Monday


@dataclass(frozen=True)
class SpikePolicy:
    """When a region's complaints count as a spike (see the module documentation)."""

    window: timedelta = timedelta(hours=1)
    weeks: int = 4
    alpha: float = 0.001
    min_count: int = 5
    min_baseline: float = 0.5

    def __post_init__(self) -> None:
        if self.window <= timedelta(0) or self.window > timedelta(days=7):
            raise ValueError(f"spike window must be between 0 and 7 days, got {self.window}")
        if not 1 <= self.weeks <= 52:
            raise ValueError(f"spike baseline weeks must be 1-52, got {self.weeks}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"spike alpha must be between 0 and 1, got {self.alpha}")
        if self.min_count < 1 or self.min_baseline <= 0:
            raise ValueError("spike min_count must be >= 1 and min_baseline > 0")

    def threshold(self, baseline: float) -> int:
        """The smallest count that is a spike over ``baseline``."""
        return max(self.min_count, poisson_threshold(max(baseline, self.min_baseline), self.alpha))


def poisson_threshold(mean: float, alpha: float) -> int:
    """The smallest k with P(X >= k) <= alpha for X ~ Poisson(mean)."""
    log_mean = math.log(mean)
    below = 0.0  # P(X < k)
    k = 0
    while 1.0 - below > alpha:
        below += math.exp(k * log_mean - mean - math.lgamma(k + 1))
        k += 1
    return k


@dataclass(frozen=True)
class SpikeAlert:
    """A recorded spike."""

    id: int
    region: str
    category: str
    window_start: datetime
    window_end: datetime
    count: int
    baseline: float
    threshold: int
    raised_at: datetime

    @classmethod
    def from_row(cls, row: AlertRow) -> SpikeAlert:
        return cls(
            row.id,
            row.region,
            row.category,
            row.window_start,
            row.window_end,
            row.count,
            row.baseline,
            row.threshold,
            row.raised_at,
        )


def counts(
    s: Session, region: str, category: str, now: datetime, policy: SpikePolicy
) -> tuple[int, float]:
    """The count in the current window and the baseline (mean of the earlier weeks)."""
    windows = [
        (now - timedelta(weeks=k) - policy.window, now - timedelta(weeks=k))
        for k in range(policy.weeks + 1)
    ]
    received = ContactRow.received_at
    columns = [
        func.sum(case((and_(received > start, received <= end), 1), else_=0))
        for start, end in windows
    ]
    row = s.execute(
        select(*columns).where(
            ContactRow.region == region,
            ContactRow.category == category,
            received > windows[-1][0],
            received <= now,
        )
    ).one()
    values = [int(v or 0) for v in row]
    return values[0], sum(values[1:]) / policy.weeks


def check_spike(
    engine: Engine,
    s: Session,
    region: str,
    category: str,
    now: datetime,
    policy: SpikePolicy,
    notices: Notices,
) -> SpikeAlert | None:
    """Record and announce a spike of ``region``/``category`` at ``now``, if there is one
    and it was not announced already in this window bucket."""
    count, baseline = counts(s, region, category, now, policy)
    threshold = policy.threshold(baseline)
    if count < threshold:
        return None
    bucket = EPOCH + ((now - EPOCH) // policy.window) * policy.window
    existing = s.scalars(
        select(AlertRow).where(
            AlertRow.region == region,
            AlertRow.category == category,
            AlertRow.bucket_start == bucket,
        )
    ).first()
    if existing is not None:
        return None
    row = AlertRow(
        region=region,
        category=category,
        bucket_start=bucket,
        window_start=now - policy.window,
        window_end=now,
        count=count,
        baseline=round(baseline, 3),
        threshold=threshold,
        raised_at=now,
    )
    try:
        with s.begin_nested():
            s.add(row)
            s.flush()
    except IntegrityError:  # another intake announced it at the same moment
        return None
    group = notices.supervisor_group
    address = notices.staff_address(group) if notices.staff_address else None
    if address:
        notices.send(
            engine,
            s,
            to=address,
            body=(
                f"【投诉激增 Complaint spike】{region} / {category}: {count} contacts in the last "
                f"{policy.window}, baseline {baseline:.1f} (threshold {threshold})"
            ),
            subject=f"投诉激增 Complaint spike: {region} {category}",
            role="supervisor",
            key=f"spike:{row.id}:{group}",
            now=now,
        )
    return SpikeAlert.from_row(row)


def alerts(
    engine: Engine,
    *,
    since: datetime | None = None,
    region: str | None = None,
    limit: int = 100,
    session: Session | None = None,
) -> list[SpikeAlert]:
    """Recorded spikes, newest first."""
    with unit(engine, session) as s:
        q = select(AlertRow).order_by(AlertRow.raised_at.desc(), AlertRow.id.desc()).limit(limit)
        if since is not None:
            q = q.where(AlertRow.raised_at >= since)
        if region is not None:
            q = q.where(AlertRow.region == region)
        return [SpikeAlert.from_row(r) for r in s.scalars(q)]
