from __future__ import annotations

import pytest

from windows.config import (
    KpiConfig,
    WindowSpec,
    dimension_sets_from_text,
    parse_duration_ms,
    windows_from_text,
)
from windows.errors import ConfigError


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
    assert cfg.resolutions_ms == (5000, 15000, 60000, 1_440_000)


def test_window_not_divisible_is_rejected() -> None:
    with pytest.raises(ConfigError, match="not divisible"):
        KpiConfig(windows=(WindowSpec("7s", 7000, 60),))


def test_unknown_dimension_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown dimension"):
        KpiConfig(windows=windows_from_text("5m"), dimension_sets=(("region",),))
