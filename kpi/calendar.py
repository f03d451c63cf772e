"""Business time: how much of a stretch of time a support floor was open, as a pure
function of two instants and a calendar.

Helpdesks measure their SLAs in business hours (Zendesk schedules, Intercom office hours,
Freshdesk business hours): a ticket created on Friday evening and answered on Monday
morning waited a few business minutes, not 60 hours. The definition here is the one a
person checks by hand, minute by minute: an instant is *open* when its wall-clock time in
the calendar's zone falls inside one of that weekday's opening intervals and its local
date is not a holiday. Business time between two instants is the measure of the open
instants between them; it never depends on how the stretch is cut.

DST is what makes this subtle. On the spring-forward day the skipped local hour is never
open (nobody worked it); on the fall-back day the repeated hour is open twice if it is in
an interval (people worked it twice). The code follows that by walking the stretch in
pieces of constant UTC offset: inside one, local time is UTC plus a constant, so opening
intervals become plain UTC intervals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

DAY_MS = 86_400_000
MINUTE_MS = 60_000
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far ahead a deadline is searched for: a calendar open less than this often (e.g. a
# year of holidays) has no deadline rather than a search without end.
MAX_SEARCH_DAYS = 400
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)

Interval = tuple[int, int]  # minutes after local midnight, [start, end), end <= 1440


@dataclass(frozen=True)
class BusinessCalendar:
    """A zone, weekly opening intervals per weekday (Monday first, split shifts allowed)
    and holidays (local dates)."""

    name: str
    zone: str
    weekly: tuple[tuple[Interval, ...], ...]  # seven entries, Monday first
    holidays: frozenset[dt.date] = frozenset()

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError(f"calendar {self.name!r}: weekly hours need 7 days")
        for day, intervals in zip(WEEKDAYS, self.weekly, strict=True):
            last_end = 0
            for start, end in intervals:
                if not 0 <= start < end <= 1440 or start < last_end:
                    raise ValueError(f"calendar {self.name!r}: {day} intervals must be "
                                     "ordered, non-overlapping and within 00:00-24:00")
                last_end = end
        if not any(self.weekly):
            raise ValueError(f"calendar {self.name!r} is never open")
        ZoneInfo(self.zone)  # unknown zones fail here, at start-up

    @property
    def tz(self) -> ZoneInfo:
        return _zone(self.zone)

    def offset_ms(self, t_ms: int) -> int:
        """The zone's UTC offset at an instant."""
        off = dt.datetime.fromtimestamp(t_ms / 1000, tz=self.tz).utcoffset()
        return int(off.total_seconds() * 1000) if off is not None else 0

    def is_open(self, t_ms: int) -> bool:
        return any(lo <= t_ms < hi for lo, hi in self.open_spans(t_ms, t_ms + 1))

    def business_ms(self, start_ms: int, end_ms: int) -> int:
        """Open time in [start, end) (0 when end <= start)."""
        return sum(hi - lo for lo, hi in self.open_spans(start_ms, end_ms))

    def add_business(self, start_ms: int, duration_ms: int) -> int | None:
        """The first instant by which ``duration_ms`` of open time has passed since
        ``start_ms`` (a deadline); None when the calendar is not open that long within
        :data:`MAX_SEARCH_DAYS`."""
        left = duration_ms
        if left <= 0:
            return start_ms
        step = 7 * DAY_MS
        for k in range(0, MAX_SEARCH_DAYS * DAY_MS, step):
            for lo, hi in self.open_spans(start_ms + k, start_ms + k + step):
                if hi - lo >= left:
                    return lo + left
                left -= hi - lo
        return None

    def open_spans(self, start_ms: int, end_ms: int) -> Iterator[tuple[int, int]]:
        """The open UTC spans within [start, end), in order."""
        t = start_ms
        while t < end_ms:
            offset = self.offset_ms(t)
            piece_end = min(end_ms, self._next_offset_change(t, end_ms, offset))
            yield from self._spans_at_offset(t, piece_end, offset)
            t = piece_end

    def _spans_at_offset(self, lo_ms: int, hi_ms: int, offset: int
                         ) -> Iterator[tuple[int, int]]:
        """Open spans of [lo, hi), where local time is UTC + ``offset`` throughout."""
        la, lb = lo_ms + offset, hi_ms + offset  # local wall-clock as epoch ms
        for day in range(la // DAY_MS, (lb - 1) // DAY_MS + 1):
            if _local_date(day) in self.holidays:
                continue
            base = day * DAY_MS
            for s, e in self.weekly[(day + _EPOCH_WEEKDAY) % 7]:
                a, b = max(la, base + s * MINUTE_MS), min(lb, base + e * MINUTE_MS)
                if b > a:
                    yield a - offset, b - offset

    def _next_offset_change(self, t_ms: int, limit_ms: int, offset: int) -> int:
        """The first instant after ``t`` whose offset differs (or ``limit``): stepped a
        day at a time (transitions are months apart), then bisected to the millisecond."""
        probe = t_ms
        while probe < limit_ms:
            nxt = min(limit_ms, probe + DAY_MS)
            if self.offset_ms(nxt) != offset:
                lo, hi = probe, nxt  # offset(lo) == offset, offset(hi) != offset
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self.offset_ms(mid) == offset:
                        lo = mid
                    else:
                        hi = mid
                return hi
            probe = nxt
        return limit_ms


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local_date(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=day)


def parse_hours(text: str) -> Interval:
    """``"09:00-17:30"`` → minutes (``24:00`` ends a day)."""
    try:
        a, b = (part.strip() for part in text.split("-"))
        (ah, am), (bh, bm) = (map(int, x.split(":")) for x in (a, b))
    except ValueError:
        raise ValueError(f"opening hours {text!r}: expected HH:MM-HH:MM") from None
    if not (0 <= ah < 24 and 0 <= am < 60 and ((0 <= bh < 24 and 0 <= bm < 60)
                                                or (bh, bm) == (24, 0))):
        raise ValueError(f"opening hours {text!r}: not a time of day")
    return ah * 60 + am, bh * 60 + bm


def weekly_from(hours: Mapping[str, Sequence[str]]) -> tuple[tuple[Interval, ...], ...]:
    """Weekday name → interval texts, to the seven-day tuple (missing days closed)."""
    unknown = set(hours) - set(WEEKDAYS)
    if unknown:
        raise ValueError(f"unknown weekday {sorted(unknown)[0]!r} (known: {', '.join(WEEKDAYS)})")
    return tuple(tuple(sorted(parse_hours(h) for h in hours.get(d, ()))) for d in WEEKDAYS)


@lru_cache(maxsize=65_536)
def business_ms(cal: BusinessCalendar, start_ms: int, end_ms: int) -> int:
    """:meth:`BusinessCalendar.business_ms`, remembered: a conversation's contribution is
    recomputed at each of its events, asking for the same few durations again."""
    return cal.business_ms(start_ms, end_ms)
