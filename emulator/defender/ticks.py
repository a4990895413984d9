"""The seventh fractional digit of Defender time stamps.

Real values carry .NET's 100-nanosecond ticks: ``2021-01-26T20:33:57.7220239Z``
(https://learn.microsoft.com/defender-endpoint/api/alerts). Python keeps microseconds, so the emulator
stores a time to the microsecond and writes one fixed tick digit after it, derived from the microsecond,
never 0 for a time with a fraction: every written stamp has seven digits, and the same stored time is
always written the same way. Whole seconds are written without a fraction (``2019-12-08T06:33:39Z``, as
real answers show them). ``$filter`` literals with seven digits are compared against these written values
exactly (``odata.tick_offset``).
"""

from __future__ import annotations


def tick_digit(microsecond: int) -> int:
    """The digit written after ``microsecond``'s six: 1-9, or 0 for a whole second."""
    return 0 if microsecond == 0 else (microsecond * 7 + 3) % 9 + 1
