"""Exact window edges: whatever finer buckets expired, a window counts exactly the events
in the range it reports, that range never reaches ``T``, and it starts within the finest
retained resolution of ``T − W``."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from kpi import span

RES = (5_000, 15_000, 60_000, 1_440_000)  # the default windows' bucket sizes
DAY = 86_400_000


def buckets_of(times: list[int], expired: dict[int, int]) -> dict[span.Bucket, dict[str, int]]:
    """Every event written to every resolution; a resolution's buckets that start before
    ``expired[res]`` are gone (finer ones expire first)."""
    out: dict[span.Bucket, dict[str, int]] = {}
    for t in times:
        for r in RES:
            b = (r, t - t % r)
            if b[1] < expired.get(r, -1):
                continue
            h = out.setdefault(b, {})
            h["n"] = h.get("n", 0) + 1
    return out


def count(p: span.Plan, data: dict[span.Bucket, dict[str, int]]) -> tuple[int, int, int]:
    hashes, lo, hi = span.assemble(p, [{b: data.get(b, {}) for b in p.buckets()}])
    total = Counter[str]()
    for h in hashes:
        total.update(h)
    return total["n"], lo, hi


def test_the_chain_takes_each_finer_resolution_that_divides() -> None:
    assert span.chain(1_440_000, RES) == (1_440_000, 60_000, 15_000, 5_000)
    assert span.chain(15_000, RES) == (15_000, 5_000)
    assert span.chain(7_000, (7_000, 5_000, 1_000)) == (7_000, 1_000)


def test_hand_worked_24h_window() -> None:
    at = 10 * DAY + 12 * 3_600_000 + 7_300  # 12:00:07.3
    times = [at - DAY - 1, at - DAY, at - DAY + 2_700, at - DAY + 4_700, at - 1, at, at + 9]
    data = buckets_of(times, {})
    # past read (events after T exist): from the first 5-s boundary at or after T - 24h
    # (12:00:10 the day before) to the last one at or before T (12:00:05)
    n, lo, hi = count(span.plan(DAY, 1_440_000, at, RES, end_open=False), data)
    assert (lo, hi) == (at - DAY + 2_700, at - 2_300)
    assert n == 2  # at - DAY + 2_700 and + 4_700; at - 1 is after 12:00:05, at is not < T
    # a live read (nothing at or after T in the store) counts up to T itself
    live = buckets_of([t for t in times if t < at], {})
    n, lo, hi = count(span.plan(DAY, 1_440_000, at, RES, end_open=True), live)
    assert (lo, hi, n) == (at - DAY + 2_700, at, 3)


WINDOWS = [(300_000, 5_000), (900_000, 15_000), (3_600_000, 60_000), (DAY, 1_440_000)]


@settings(max_examples=400, deadline=None)
@given(st.data(), st.sampled_from(WINDOWS), st.booleans())
def test_counts_exactly_the_range_it_reports(data: st.DataObject, window: tuple[int, int],
                                             future: bool) -> None:
    length, bucket = window
    at = data.draw(st.integers(DAY, 2 * DAY))
    start = at - length
    near = st.integers(-2 * bucket, 2 * bucket)
    # events crowd both edges (where the refinement decides), some anywhere
    times = data.draw(st.lists(st.one_of(near.map(lambda d: start + d), near.map(lambda d: at + d),
                                         st.integers(0, 3 * DAY)), max_size=80))
    if not future:
        times = [t for t in times if t < at]
    # the finer a resolution, the more recent the history it still holds (shorter TTLs);
    # the cut-offs fall near the edges
    cut = sorted(data.draw(st.lists(st.one_of(near.map(lambda d: start + d),
                                              near.map(lambda d: at + d)),
                                    min_size=3, max_size=3)), reverse=True)
    # (the window's own resolution outlives the window: its TTL is the window and more)
    expired = {r: c for r, c in zip(RES, cut, strict=False) if r < bucket}
    buckets = buckets_of(times, expired)
    end_open = not any(t >= at for t in times)
    n, lo, hi = count(span.plan(length, bucket, at, RES, end_open), buckets)
    assert hi <= at and lo >= start
    assert n == sum(1 for t in times if lo <= t < hi)
    if expired.get(5_000, 0) <= start // bucket * bucket:  # every level retained at the start
        assert lo - start < 5_000
    assert lo - start < bucket
    if end_open:
        assert hi == at
