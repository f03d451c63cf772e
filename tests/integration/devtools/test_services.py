"""The local services script: idempotent, health-checked, clear about missing tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.services import ServiceConfig, ServiceError, redis_ping, status, up

pytestmark = pytest.mark.integration


def test_second_up_reuses_running_services(services: ServiceConfig) -> None:
    said: list[str] = []
    up(services, log=said.append)
    assert said == [f"redis: already running on 127.0.0.1:{services.redis_port}",
                    f"kafka: already running on {services.bootstrap}"]
    assert status(services) == {"kafka": True, "redis": True}
    assert redis_ping(services.redis_port)


def test_missing_tools_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    cfg = ServiceConfig(state_dir=tmp_path / "s", kafka_port=1, redis_port=2,
                        cache_dir=tmp_path / "cache")
    with pytest.raises(ServiceError, match=r"redis-server not found.*apt-get install redis-server"):
        up(cfg, log=lambda _: None)
    from devtools.services import fetch_kafka, start_kafka

    with pytest.raises(ServiceError, match="java not found"):
        start_kafka(cfg, log=lambda _: None)
    with pytest.raises(ServiceError, match=r"mvn not found.*Maven"):
        fetch_kafka(cfg, log=lambda _: None)


def test_port_taken_is_reported(services: ServiceConfig, tmp_path: Path) -> None:
    other = ServiceConfig(state_dir=tmp_path / "other", kafka_port=services.kafka_port,
                          redis_port=services.redis_port)
    with pytest.raises(ServiceError, match=r"port .* is taken"):
        up(other, log=lambda _: None)
