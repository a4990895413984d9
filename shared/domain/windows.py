"""Read windows: how a change feed is read completely whatever order the service returns items in.

Neither the Graph security lists nor the XDR incidents list document ``$orderby`` (docs/microsoft-apis.md
§OData subset, §Graph query options and paging), and ``$skip`` paging over a live list skips an item
whenever one leaves the result between two pages. So a read never depends on order or on paging:

- A run reads the fixed window ``[since, until)`` on the feed's change time (``ge``/``lt`` filters).
- A window is *complete* when one request answers it with fewer items than ``$top`` and no
  ``@odata.nextLink``: a single answer holds everything in the window, in whatever order.
- A window that comes back full is split in two (at the median change time of the items it returned,
  a sample in whatever order), each part read the same way (left first), so the windows that are read
  completely are handed over in time order.
- Items that share one change time (a *tie*; more of them than a page can hold) cannot be split by
  time: that instant is split by creation time instead (also a documented ``$filter`` field).
- Only an instant whose items also share one creation time and fill a page is paged
  (``$skip``/``nextLink``), the one place that trusts the service to answer a query in a stable order.
  The next run's overlap re-reads it (docs/ingestion.md "Read windows").
- ``complete_until``: every version whose change time is before it has been handed over. The cursor
  never moves past it, so a run cut short (throttled, bounded) resumes where the complete windows end.

Pure: the Defender/Graph client does the requests (shared/defender/client.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

# Filters are written with microseconds (shared/defender/odata.py): the smallest window is one of them.
RESOLUTION: Final = timedelta(microseconds=1)
# The creation-time range a tie is split over: nothing was created before 2000 (Defender did not exist),
# and a day past the change time leaves room for a service clock that stamps creation after the change.
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
CREATED_SLACK: Final = timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """Versions changed in ``[start, end)``; when ``created`` is set, also created in that range."""

    start: datetime
    end: datetime
    created: tuple[datetime, datetime] | None = None

    def split(self, changed: Sequence[datetime] = (), created: Sequence[datetime] = ()) -> tuple[Window, Window] | None:
        """Two windows to read instead of this full one, or None when it cannot be split any more.

        ``changed`` and ``created`` are the times of the items its full page held: a sample of the window
        in whatever order the service chose. Splitting at the sample's median keeps the number of reads
        logarithmic when the order is arbitrary, and isolates a tie (many items at one instant) in two
        steps instead of halving down to the microsecond. Only the split point is guessed: a window is
        complete only when one answer holds it, so a poor guess costs a read, never an item.
        """
        if self.created is None:
            middle = _split_point(self.start, self.end, changed)
            if middle is not None:
                return Window(self.start, middle), Window(middle, self.end)
            return Window(self.start, self.end, (EARLIEST, self.end + CREATED_SLACK)).split((), created)
        low, high = self.created
        middle = _split_point(low, high, created)
        if middle is None:
            return None
        return Window(self.start, self.end, (low, middle)), Window(self.start, self.end, (middle, high))


def _split_point(low: datetime, high: datetime, sample: Sequence[datetime]) -> datetime | None:
    """A point strictly inside ``(low, high)``: the sample's median, or the middle without a sample."""
    if high - low < 2 * RESOLUTION:
        return None
    # Times carry microseconds, like the filters (parse_time cuts a 7th digit): no rounding is needed.
    inside = sorted(t for t in sample if low <= t < high)
    if not inside:
        return low + (high - low) // RESOLUTION // 2 * RESOLUTION
    middle = inside[len(inside) // 2]
    # The median at the window's start (most of the sample sits at one instant): cut that instant off.
    return middle if middle > low else low + RESOLUTION


@dataclass(frozen=True)
class ChangePage:
    """Items handed over by a read, and how far the read is complete (``complete_until``)."""

    items: Sequence[dict[str, Any]]
    complete_until: datetime
    windows: int = 1  # the windows read for this page (splits included): the summary line's ``windows=``


@dataclass
class WindowPlan:
    """The windows still to read, leftmost on top; ``complete_until`` is where the first of them starts."""

    end: datetime
    pending: list[Window] = field(default_factory=list)

    @classmethod
    def of(cls, since: datetime, until: datetime) -> WindowPlan:
        return cls(end=until, pending=[Window(since, until)] if since < until else [])

    def __iter__(self) -> Iterator[Window]:
        while self.pending:
            yield self.pending.pop()

    def split(self, window: Window, changed: Sequence[datetime] = (), created: Sequence[datetime] = ()) -> bool:
        """Read two parts of ``window`` instead (left first); False when it cannot be split."""
        parts = window.split(changed, created)
        if parts is None:
            return False
        self.pending.extend(reversed(parts))
        return True

    @property
    def complete_until(self) -> datetime:
        return self.pending[-1].start if self.pending else self.end
