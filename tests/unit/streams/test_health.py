"""Store health: the gauge follows it, the log says it once (then once a minute)."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, Gauge

from streams.health import StoreHealth


def test_down_then_up(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    gauge = Gauge("g", "g", registry=CollectorRegistry())
    h = StoreHealth(gauge, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for t in range(0, 120, 5):
            now[0] = float(t)
            h.down("redis_out_of_memory", "OOM command not allowed")
        assert not h.ok and gauge._value.get() == 0
        now[0] = 130.0
        h.up()
    lines = [r.getMessage() for r in caplog.records]
    assert len([m for m in lines if m.startswith("Redis unavailable")]) == 2  # at 0 s and 60 s
    assert "available again after 130s" in lines[-1]
    assert h.ok and gauge._value.get() == 1
