"""Sparkline points: on a fixed 5-minute grid, each read once, the last hour beside the
hour before it, point for point."""

from __future__ import annotations

import itertools

from serve.trends import POINTS, STEP_MS, TrendBook, grid

H = 3_600_000


def test_grid_is_two_hours_of_five_minute_points_ending_at_or_before_now() -> None:
    g = grid(10 * H + 7 * 60_000)
    assert len(g) == 25 and g[-1] == 10 * H + 5 * 60_000 and g[0] == g[-1] - 2 * H
    assert all(b - a == STEP_MS for a, b in itertools.pairwise(g))


def test_missing_points_then_the_series_line_up() -> None:
    book = TrendBook()
    now = 10 * H
    assert book.missing(now) == grid(now)
    for t in book.missing(now):
        book.record(t, {"fcr": t / H})
    assert book.missing(now + 60_000) == []  # same grid: nothing new to read
    assert book.missing(now + STEP_MS) == [now + STEP_MS]  # one new point
    book.record(now + STEP_MS, {"fcr": (now + STEP_MS) / H})
    s = book.series(now + STEP_MS, ["fcr"], {"fcr": 99.0})["fcr"]
    assert len(s["last"]) == len(s["previous"]) == POINTS
    assert s["last"][-1] == 99.0  # the current value ends the line
    assert s["last"][0] == (now + STEP_MS - H) / H  # an hour ago
    assert s["previous"][-1] == s["last"][0] and s["previous"][0] == (now + STEP_MS - 2 * H) / H


def test_sampled_points_fill_only_their_grid_time_and_old_ones_are_forgotten() -> None:
    book = TrendBook()
    book.record(0, {"waiting": 3})
    book.record(60_000, {"waiting": 30})  # same 5-minute point: the first sample stands
    assert book.has(0) and book.has(120_000) and not book.has(STEP_MS)
    s = book.series(STEP_MS, ["waiting"], {"waiting": 4})["waiting"]
    assert s["last"][-2:] == [3, 4] and s["last"][:-2] == [None] * (POINTS - 2)
    book.record(3 * H, {"waiting": 1})
    assert not book.has(0)  # beyond two hours


def test_an_older_point_recorded_late_keeps_the_newer_ones() -> None:
    book = TrendBook()
    now = 10 * H
    book.record(now, {"fcr": 1.0})
    book.record(now - H, {"fcr": 0.5})  # read later, for the sparkline's left end
    assert book.has(now) and book.has(now - H)
