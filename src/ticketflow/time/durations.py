"""ISO 8601 durations of fixed length (weeks, days, hours, minutes, seconds)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """Parse ``PT4H``, ``P2D``, ``P1DT12H``, ``P1W``, ``PT30M``...

    Years and months have no fixed length and are refused (ValueError), as is anything
    that is not an ISO 8601 duration.
    """
    match = _DURATION.match(text.strip().upper())
    if match is None:
        raise ValueError(
            f"{text!r} is not an ISO 8601 duration of weeks/days/hours/minutes/seconds "
            "(e.g. PT4H, P2D, P1DT12H)"
        )
    parts = {k: float(v.replace(",", ".")) for k, v in match.groupdict().items() if v}
    return timedelta(**parts)
