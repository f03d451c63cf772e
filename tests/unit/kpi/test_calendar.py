"""Business time against the definition a person checks by hand: walk the stretch minute
by minute, look each minute up in the calendar's zone (weekday, local date, time of day),
and add what is open. Random instants land across weekends, holidays, split shifts and
both DST changes of a European and an American zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.calendar import BusinessCalendar, parse_hours, weekly_from

MIN = 60_000
HOUR = 3_600_000
ZONES = ("Europe/Berlin", "America/New_York")
# the 2026 DST changes of both zones (local dates), where the instants cluster
TRANSITIONS = [dt.datetime(2026, 3, 29, tzinfo=dt.UTC), dt.datetime(2026, 10, 25, tzinfo=dt.UTC),
               dt.datetime(2026, 3, 8, tzinfo=dt.UTC), dt.datetime(2026, 11, 1, tzinfo=dt.UTC)]


def brute_force(cal: BusinessCalendar, a: int, b: int) -> int:
    """Open time in [a, b) minute by minute; openness is constant within a UTC minute
    (opening hours and DST changes fall on whole minutes)."""
    zone = ZoneInfo(cal.zone)
    total = 0
    m = a - a % MIN
    while m < b:
        local = dt.datetime.fromtimestamp(m / 1000, tz=zone)
        minute = local.hour * 60 + local.minute
        is_open = local.date() not in cal.holidays and any(
            s <= minute < e for s, e in cal.weekly[local.weekday()])
        if is_open:
            total += min(b, m + MIN) - max(a, m)
        m += MIN
    return total


@st.composite
def day_hours(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    """0-3 ordered intervals (split shifts), on a 15-minute grid, often around 02:00-03:00
    (the hour DST skips or repeats)."""
    cuts = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
    cuts = cuts[: len(cuts) // 2 * 2]
    return tuple((cuts[i] * 15, cuts[i + 1] * 15) for i in range(0, len(cuts), 2))


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    weekly = tuple(draw(day_hours()) for _ in range(7))
    if not any(weekly):
        weekly = (((120, 180),),) * 7  # never-open calendars are refused at start-up
    holidays = frozenset(around.date() + dt.timedelta(days=d) for around in TRANSITIONS
                         for d in draw(st.sets(st.integers(-3, 3), max_size=4)))
    return BusinessCalendar("c", draw(st.sampled_from(ZONES)), weekly, holidays)


@st.composite
def instants(draw: st.DrawFn) -> int:
    base = draw(st.sampled_from(TRANSITIONS))
    return int(base.timestamp() * 1000) + draw(st.integers(-3 * 24 * HOUR, 3 * 24 * HOUR))


@settings(max_examples=150, deadline=None)
@given(calendars(), instants(), st.integers(0, 4 * 24 * HOUR))
def test_business_time_equals_the_minute_by_minute_count(cal: BusinessCalendar, a: int,
                                                         length: int) -> None:
    assert cal.business_ms(a, a + length) == brute_force(cal, a, a + length)


@settings(max_examples=100, deadline=None)
@given(calendars(), instants(), st.integers(1, 30 * HOUR))
def test_a_deadline_is_the_first_instant_the_target_has_passed(cal: BusinessCalendar, a: int,
                                                               target: int) -> None:
    due = cal.add_business(a, target)
    assert due is not None
    assert cal.business_ms(a, due) == target
    assert cal.business_ms(a, due - 1) == target - 1  # not one millisecond later than needed


@settings(max_examples=60, deadline=None)
@given(calendars(), instants(), st.integers(0, 2 * 24 * HOUR), st.integers(0, 2 * 24 * HOUR))
def test_business_time_adds_up_over_any_cut(cal: BusinessCalendar, a: int, x: int,
                                            y: int) -> None:
    assert cal.business_ms(a, a + x + y) == cal.business_ms(a, a + x) + \
        cal.business_ms(a + x, a + x + y)


def _ms(text: str, zone: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp() * 1000)


OFFICE = BusinessCalendar("berlin", "Europe/Berlin",
                          weekly_from({d: ["09:00-12:30", "13:30-18:00"]
                                       for d in ("mon", "tue", "wed", "thu", "fri")}),
                          frozenset({dt.date(2026, 12, 25)}))


def test_friday_evening_to_monday_morning_is_minutes_not_sixty_hours() -> None:
    created = _ms("2026-12-04T17:30", "Europe/Berlin")  # a Friday
    answered = _ms("2026-12-07T09:20", "Europe/Berlin")  # the Monday after
    assert (answered - created) / HOUR == pytest.approx(63.833, abs=1e-3)
    assert OFFICE.business_ms(created, answered) == 50 * MIN  # 30 on Friday, 20 on Monday


def test_lunch_breaks_and_holidays_are_closed() -> None:
    assert OFFICE.business_ms(_ms("2026-12-01T12:00", "Europe/Berlin"),
                              _ms("2026-12-01T14:00", "Europe/Berlin")) == 60 * MIN
    assert OFFICE.business_ms(_ms("2026-12-25T00:00", "Europe/Berlin"),
                              _ms("2026-12-26T00:00", "Europe/Berlin")) == 0
    # one hour of target from Thursday 17:30 is due Monday 09:30 (Friday 25th is a holiday)
    assert OFFICE.add_business(_ms("2026-12-24T17:30", "Europe/Berlin"), HOUR) == \
        _ms("2026-12-28T09:30", "Europe/Berlin")


def test_the_skipped_hour_is_closed_and_the_repeated_hour_open_twice() -> None:
    night = BusinessCalendar("night", "Europe/Berlin", (((0, 360),),) * 7)  # 00:00-06:00
    spring = _ms("2026-03-29T00:00", "Europe/Berlin")
    autumn = _ms("2026-10-25T00:00", "Europe/Berlin")
    assert night.business_ms(spring, spring + 12 * HOUR) == 5 * HOUR
    assert night.business_ms(autumn, autumn + 12 * HOUR) == 7 * HOUR


@pytest.mark.parametrize(("text", "why"), [
    ("9-17", "expected HH:MM-HH:MM"), ("09:00-25:00", "not a time of day"),
    ("09:61-10:00", "not a time of day")])
def test_bad_hours_say_what_was_expected(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_hours(text)


def test_overlapping_or_never_open_calendars_are_refused() -> None:
    with pytest.raises(ValueError, match="non-overlapping"):
        BusinessCalendar("x", "UTC", weekly_from({"mon": ["09:00-12:00", "11:00-13:00"]}))
    with pytest.raises(ValueError, match="never open"):
        BusinessCalendar("x", "UTC", weekly_from({}))
    with pytest.raises(ValueError, match="unknown weekday"):
        weekly_from({"monday": ["09:00-10:00"]})
