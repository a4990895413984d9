"""NCRONTAB schedules of saved hunts: ``{second} {minute} {hour} {day} {month} {day-of-week}``, UTC.

The same six-field form as the Functions timer (docs/microsoft-apis.md §Timer trigger), checked by the same
rules as ``RELAY_SWEEP_SCHEDULE`` (``shared.platform.setting_checks.parse_ncrontab``). Fields take ``*``,
numbers, ranges ``a-b``, steps ``/n`` and lists ``a,b``; months and days of the week also by their English
three-letter names. A time matches when every field matches (NCrontab's rule: day and day-of-week together).

``latest_slot(schedule, after, until)`` is the latest scheduled time in ``(after, until]``: the timer asks it on
every tick, so a saved hunt runs once for its latest slot even if ticks were missed (a restart), and never
for a slot it already ran. Only the last ``LOOKBACK`` is searched: a saved hunt missed for longer runs once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from shared.domain.errors import ValidationError
from shared.platform.setting_checks import Problems, parse_ncrontab

LOOKBACK: Final = timedelta(days=2)
_RANGES: Final = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class Schedule:
    text: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    def matches_minute(self, at: datetime) -> bool:
        weekday = (at.weekday() + 1) % 7  # Python: Monday = 0; NCRONTAB: Sunday = 0
        return (
            at.minute in self.minutes
            and at.hour in self.hours
            and at.day in self.days
            and at.month in self.months
            and weekday in self.weekdays
        )


def parse_schedule(text: str, *, field: str = "schedule") -> Schedule:
    """A schedule, or a ValidationError naming ``field`` and what is wrong with it."""
    problems = Problems()
    fields = parse_ncrontab(field, text.strip(), problems) if isinstance(text, str) else None
    if fields is None:
        raise ValidationError(problems.lines[0] if problems else f"{field}: not an NCRONTAB expression", field=field)
    try:
        sets = [_expand(part, index) for index, part in enumerate(fields)]
    except ValueError as exc:
        raise ValidationError(f"{field}: '{text}': {exc}", field=field) from None
    return Schedule(" ".join(fields), *sets)


def _expand(part: str, index: int) -> frozenset[int]:
    low, high = _RANGES[index]
    values: set[int] = set()
    for item in part.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step <= 0:
            raise ValueError(f"step '/{step_text}' must be at least 1")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _number(first, index), _number(last, index)
        else:
            start = _number(base, index)
            end = high if step_text else start
        if start > end:
            raise ValueError(f"range '{base}' runs backwards")
        values.update(v % 7 if index == 5 else v for v in range(start, end + 1, step))
    return frozenset(values)


def _number(token: str, index: int) -> int:
    names = _MONTHS if index == 4 else _DAYS if index == 5 else ()
    lowered = token.lower()
    if lowered in names:
        return names.index(lowered) + (1 if index == 4 else 0)
    if not token.isdigit():
        raise ValueError(f"'{token}' is not a number" + (f" or a name ({', '.join(names)})" if names else ""))
    value = int(token)
    low, high = _RANGES[index]
    if not low <= value <= high + (1 if index == 5 else 0):  # day-of-week 7 is Sunday too
        raise ValueError(f"{value} is outside {low}..{high}")
    return value


def latest_slot(schedule: Schedule, after: datetime, until: datetime) -> datetime | None:
    """The latest scheduled time in ``(after, until]``, or None."""
    until = until.astimezone(UTC).replace(microsecond=0)
    floor = max(after.astimezone(UTC), until - LOOKBACK)
    minute = until.replace(second=0)
    while minute + timedelta(seconds=59) > floor:
        if schedule.matches_minute(minute):
            for second in sorted(schedule.seconds, reverse=True):
                slot = minute.replace(second=second)
                if floor < slot <= until:
                    return slot
        minute -= timedelta(minutes=1)
    return None
