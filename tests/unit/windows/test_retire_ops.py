"""Which buckets a batch retires as its partition's clock moves (pure)."""

from __future__ import annotations

from kpi.config import KpiConfig, windows_from_text
from windows.keys import Keys
from windows.ops import Ops
from windows.plan import RETIRE_MAX, retire_ops

CFG = KpiConfig(windows=windows_from_text("5m,1h,24h"))
K = Keys("t").of("tickets:0")
T = 1_700_000_000_000  # a multiple of 5 s


def retired(before: int | None, clock: int | None) -> list[str]:
    ops = Ops(base=4)
    retire_ops(CFG, K, before, clock, ops)
    return ops.keys


def test_a_clock_moving_one_bucket_retires_the_bucket_its_longest_window_left() -> None:
    # 5-s buckets leave the 5m window 5 min 5 s after their start
    after = 5_000 + 300_000
    assert retired(T + after - 1, T + after) == [K.bucket(5_000, T)]
    assert retired(T + after - 1, T + after - 1) == []  # the clock did not move
    assert retired(T + after, T + after + 4_999) == []  # next one not passed yet


def test_a_jump_retires_every_start_passed_once_and_no_more_than_the_cap() -> None:
    keys = retired(T, T + 3_600_000)  # an hour: 720 five-second starts, 60 one-minute
    fives = [key for key in keys if ":b:5000:" in key]
    minutes = [key for key in keys if ":b:60000:" in key]
    assert len(fives) == 720 and len(set(fives)) == 720
    assert len(minutes) == 60
    assert not [key for key in keys if ":b:1440000:" in key]  # the coarsest keeps its TTL
    # a week's jump retires at most RETIRE_MAX starts per size, the newest
    week = retired(T, T + 7 * 86_400_000)
    assert len([key for key in week if ":b:5000:" in key]) == RETIRE_MAX


def test_nothing_to_retire_without_an_earlier_clock() -> None:
    assert retired(None, T) == []
    assert retired(T, None) == []
