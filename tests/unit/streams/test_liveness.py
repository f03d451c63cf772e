"""The progress-based liveness rule: behind Kafka and unmoved for the timeout."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.liveness import ProgressWatch

A, B = ("t", 0), ("t", 1)


def test_behind_and_unmoved_for_the_timeout_is_stalled() -> None:
    w = ProgressWatch(10)
    assert w.stalled(0, {A: 5}, {A: 100}) == []
    assert w.stalled(9.9, {A: 5}, {A: 120}) == []
    assert w.stalled(10, {A: 5}, {A: 130}) == [A]


def test_progress_restarts_the_clock() -> None:
    w = ProgressWatch(10)
    w.stalled(0, {A: 5}, {A: 100})
    assert w.stalled(8, {A: 6}, {A: 100}) == []  # moved: clock starts at 8
    assert w.stalled(17, {A: 6}, {A: 100}) == []
    assert w.stalled(18, {A: 6}, {A: 100}) == [A]


def test_caught_up_is_never_stalled() -> None:
    w = ProgressWatch(10)
    for t in range(0, 100, 5):
        assert w.stalled(t, {A: 99, B: None}, {A: 100, B: 0}) == []


def test_nothing_applied_yet_counts_as_behind_from_offset_zero() -> None:
    w = ProgressWatch(5)
    w.stalled(0, {A: None}, {A: 3})
    assert w.stalled(6, {A: None}, {A: 3}) == [A]


def test_an_outage_forgets_every_clock() -> None:
    w = ProgressWatch(10)
    w.stalled(0, {A: 5}, {A: 100})
    w.forget()  # Kafka or Redis could not be asked
    assert w.stalled(50, {A: 5}, {A: 100}) == []  # a fresh clock, not 50 s of stall
    assert w.stalled(60, {A: 5}, {A: 100}) == [A]


def test_partitions_no_longer_judged_are_dropped() -> None:
    w = ProgressWatch(10)
    w.stalled(0, {A: 5, B: 5}, {A: 100, B: 100})
    assert w.stalled(5, {A: 5}, {A: 100}) == []
    assert w.stalled(20, {A: 5, B: 5}, {A: 100, B: 100}) == [A]  # B's clock began at 20


@given(st.lists(st.tuples(st.floats(0, 5), st.integers(0, 3)), min_size=1, max_size=40))
def test_a_partition_that_moves_within_every_timeout_is_never_stalled(
        steps: list[tuple[float, int]]) -> None:
    w = ProgressWatch(6)
    t, last = 0.0, 0
    w.stalled(t, {A: last}, {A: 10**6})
    for dt, moved in steps:
        t += dt
        last += moved + 1  # moves at every observation, at most 5 s apart
        assert w.stalled(t, {A: last}, {A: 10**6}) == []
