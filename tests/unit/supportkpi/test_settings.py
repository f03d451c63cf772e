from __future__ import annotations

import pytest

from kpi.errors import ConfigError
from supportkpi.settings import SettingsError, load_settings
from tests.support import ROOT


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


def test_the_shipped_queue_names_load_and_name_both_paths() -> None:
    """deploy/queues.yml as SUPPORT_QUEUES: ids as text whatever YAML made of them, one
    context for the webhooks and import; a mistake is one line naming the file and key."""
    from supportkpi.queues import parse_queues
    from supportkpi.settings import Settings

    ctx = Settings(queues=ROOT / "deploy/queues.yml").connector_context("zendesk")
    assert ctx.queue("group", 360001) == "Billing" and ctx.queue("group", 9) == "group-9"
    with pytest.raises(ConfigError, match=r"q.yml: zendesk.grop"):
        parse_queues("zendesk: {grop: {1: a}}", "q.yml")


def test_the_staffing_window_and_targets(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: __import__("pathlib").Path) -> None:
    """Unset, the staffing window follows the windows (the shortest of at least 15
    minutes); set, it must be one of them; the targets file's mistake is one line."""
    for k in list(__import__("os").environ):
        if k.startswith("SUPPORT_"):
            monkeypatch.delenv(k)
    assert load_settings().kpi_config().staffing_window.name == "15m"
    monkeypatch.setenv("SUPPORT_WINDOWS", "5m,1h,24h")
    assert load_settings().kpi_config().staffing_window.name == "1h"
    monkeypatch.setenv("SUPPORT_STAFFING_WINDOW", "15m")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "SUPPORT_STAFFING_WINDOW=15m is not one of SUPPORT_WINDOWS" in str(info.value)
    monkeypatch.setenv("SUPPORT_STAFFING_WINDOW", "5m")
    assert load_settings().kpi_config().staffing_window.name == "5m"
    bad = tmp_path / "staffing.yml"
    bad.write_text("queues:\n  chat: {concurrency: 0.5}\n")
    monkeypatch.setenv("SUPPORT_STAFFING", str(bad))
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "queues.chat.concurrency" in str(info.value) and str(bad) in str(info.value)
    monkeypatch.setenv("SUPPORT_STAFFING", str(ROOT / "deploy/staffing.yml"))
    st = load_settings().kpi_config().staffing
    assert st.target("technical").concurrency == 3 and st.min_contacts == 5
