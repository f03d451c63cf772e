from __future__ import annotations

import pytest

from kpi.config import (
    KpiConfig,
    WindowSpec,
    dimension_sets_from_text,
    parse_duration_ms,
    windows_from_text,
)
from kpi.errors import ConfigError


def test_parse_durations() -> None:
    assert parse_duration_ms("5m") == 300_000
    assert parse_duration_ms("24h") == 86_400_000
    assert parse_duration_ms("250ms") == 250
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration_ms("five minutes")


def test_a_window_is_stored_in_its_number_of_buckets() -> None:
    assert WindowSpec("5m", 300_000, 60).bucket_ms == 5000


def test_defaults_and_dimension_text() -> None:
    ws = windows_from_text("5m,15m,1h,24h")
    assert [w.name for w in ws] == ["5m", "15m", "1h", "24h"]
    assert dimension_sets_from_text("all,queue,queue*channel") == ((), ("queue",),
                                                                   ("queue", "channel"))
    cfg = KpiConfig(windows=ws)
    # the 15m window reads the 1h window's minutes (15 buckets): a write fewer per event
    assert [w.bucket_ms for w in ws] == [5000, 60_000, 60_000, 1_440_000]
    assert cfg.resolutions_ms == (5000, 60000, 1_440_000)


def test_a_window_keeps_its_own_bucket_size_when_none_shared_fits() -> None:
    # the finest size is never given up (it sets how exact every edge is)
    assert [w.bucket_ms for w in windows_from_text("5m,15m")] == [5000, 15_000]
    # 15m in 1h's minutes is 15 buckets: under a quarter of 80
    assert [w.bucket_ms for w in windows_from_text("15m,1h", buckets=80)] == [11_250, 45_000]
    # 10m is no whole number of 1h's 3-minute buckets
    assert [w.bucket_ms for w in windows_from_text("5m,10m,1h", buckets=20)] == \
        [15_000, 30_000, 180_000]
    # 30m in 1h's minutes is 30 buckets: at least a quarter of 60
    assert [w.bucket_ms for w in windows_from_text("5m,30m,1h")] == [5000, 60_000, 60_000]


def test_window_not_divisible_is_rejected() -> None:
    with pytest.raises(ConfigError, match="not divisible"):
        KpiConfig(windows=(WindowSpec("7s", 7000, 60),))


def test_unknown_dimension_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown dimension"):
        KpiConfig(windows=windows_from_text("5m"), dimension_sets=(("region",),))
