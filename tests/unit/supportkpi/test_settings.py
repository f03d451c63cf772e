from __future__ import annotations

import pytest

from supportkpi.settings import SettingsError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(__import__("os").environ):
        if k.startswith("SUPPORT_"):
            monkeypatch.delenv(k)
    s = load_settings()
    assert [w.name for w in s.kpi_config().windows] == ["5m", "15m", "1h", "24h"]
    assert s.kpi_config().dimension_sets == ((), ("queue",), ("channel",), ("queue", "channel"),
                                             ("team",), ("priority",))


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_WINDOWS", "5m,forever")
    monkeypatch.setenv("SUPPORT_TOPIC_PARTITIONS", "zero")
    with pytest.raises(SettingsError) as info:
        load_settings()
    text = str(info.value)
    assert "SUPPORT_WINDOWS" in text and "forever" in text
    assert "SUPPORT_TOPIC_PARTITIONS" in text


def test_unknown_dimension(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_DIMENSIONS", "all,region")
    with pytest.raises(SettingsError, match="SUPPORT_DIMENSIONS"):
        load_settings()
