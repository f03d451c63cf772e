"""Where an unwatermarked partition starts, and what the rebuilt store lacks."""

from __future__ import annotations

import pytest

from streams.replay_point import KafkaOffsets, ReplayPoint, lost_before_ms, start_offsets
from streams.restart import backoff_s

T0, T1 = ("t", 0), ("t", 1)
NOW = 1_800_000_000_000


def offsets(beginning: tuple[int, int] = (0, 0), end: tuple[int, int] = (100, 50),
            committed: tuple[int | None, int | None] = (None, None),
            by_time: tuple[int | None, int | None] | None = None) -> KafkaOffsets:
    return KafkaOffsets(beginning={T0: beginning[0], T1: beginning[1]},
                        end={T0: end[0], T1: end[1]},
                        committed={T0: committed[0], T1: committed[1]},
                        by_time={} if by_time is None else {T0: by_time[0], T1: by_time[1]})


def test_parse() -> None:
    assert ReplayPoint.parse("earliest") == ReplayPoint("earliest")
    assert ReplayPoint.parse(" Committed ") == ReplayPoint("committed")
    assert ReplayPoint.parse("24h") == ReplayPoint("duration", 86_400_000)
    with pytest.raises(ValueError, match="earliest, committed or a duration"):
        ReplayPoint.parse("yesterday")


def test_earliest_starts_at_the_log_start_and_is_complete_when_nothing_was_cut() -> None:
    o = offsets(beginning=(0, 7))
    assert start_offsets(ReplayPoint("earliest"), o, [T0, T1]) == {T0: 0, T1: 7}
    assert lost_before_ms(ReplayPoint("earliest"), offsets(), NOW) == 0
    # retention took records of t:1: the windows may lack them (conservatively: until now)
    assert lost_before_ms(ReplayPoint("earliest"), o, NOW) == NOW


def test_committed_leaves_partitions_alone_and_is_incomplete_after_a_loss() -> None:
    assert start_offsets(ReplayPoint("committed"), offsets(), [T0]) == {T0: None}
    assert lost_before_ms(ReplayPoint("committed"), offsets(committed=(40, None)), NOW) == NOW
    # nothing committed yet: a first start, which Kafka begins at the earliest offset
    assert lost_before_ms(ReplayPoint("committed"), offsets(), NOW) == 0


def test_duration_starts_by_time_and_lacks_what_came_before() -> None:
    p = ReplayPoint("duration", 3_600_000)
    o = offsets(by_time=(60, None))  # t:1 has nothing newer than an hour ago
    assert start_offsets(p, o, [T0, T1]) == {T0: 60, T1: 50}
    assert lost_before_ms(p, o, NOW) == NOW - 3_600_000
    # everything is newer than an hour ago: nothing skipped, nothing missing
    assert lost_before_ms(p, offsets(by_time=(0, 0)), NOW) == 0


def test_restart_backoff_only_when_restarts_come_often() -> None:
    assert backoff_s(5, None) == 0  # the first restart of this process tree
    assert backoff_s(5, 3600) == 0  # the last one was long ago
    assert backoff_s(1, 30) == 2 and backoff_s(3, 30) == 8
    assert backoff_s(20, 30) == 60  # capped
