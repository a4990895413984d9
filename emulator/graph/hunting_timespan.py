"""``Timespan`` of runHuntingQuery: the documented ISO 8601 forms, as a (start, end) window.

https://learn.microsoft.com/graph/api/security-security-runhuntingquery ("Timespan format examples"):
``2024-02-01T08:00:00Z/2024-02-15T08:00:00Z`` (start/end), ``P30D/2024-02-15T08:00:00Z`` (duration before the
end), ``2024-02-01T08:00:00Z/P30D`` (start and duration), ``P30D`` (back from now), ``2024-02-01T08:00:00Z``
(from then until now); absent: "the default timespan of 30 days". Years and months count 365 and 30 days
(the page does not say how Graph counts them; hunts use days and hours).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

DEFAULT = timedelta(days=30)
_DURATION = re.compile(
    r"P(?=\d|T\d)(?:(?P<Y>\d+)Y)?(?:(?P<Mo>\d+)M)?(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<H>\d+)H)?(?:(?P<Mi>\d+)M)?(?:(?P<S>\d+(?:\.\d+)?)S)?)?"
)
_SECONDS = {"Y": 365 * 86_400, "Mo": 30 * 86_400, "W": 7 * 86_400, "D": 86_400, "H": 3600, "Mi": 60, "S": 1}


class TimespanError(ValueError):
    pass


def _duration(text: str) -> timedelta | None:
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    return timedelta(seconds=sum(float(v) * _SECONDS[k] for k, v in match.groupdict().items() if v))


def _instant(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def window(timespan: str | None, now: datetime) -> tuple[datetime, datetime]:
    if timespan is None:
        return now - DEFAULT, now
    parts = timespan.strip().split("/")
    if len(parts) == 1:
        span, instant = _duration(parts[0]), _instant(parts[0])
        if span is not None:
            return now - span, now
        if instant is not None:
            return instant, now
    elif len(parts) == 2:
        first_span, first_at = _duration(parts[0]), _instant(parts[0])
        second_span, second_at = _duration(parts[1]), _instant(parts[1])
        if first_at is not None and second_at is not None:
            return first_at, second_at
        if first_span is not None and second_at is not None:
            return second_at - first_span, second_at
        if first_at is not None and second_span is not None:
            return first_at, first_at + second_span
    raise TimespanError(f"The Timespan '{timespan}' is not a valid ISO 8601 duration, date or interval.")
