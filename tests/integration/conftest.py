"""Real Apache Kafka (KRaft) and redis-server for the integration tests.

Started once per session by the project's own services module on free loopback ports,
stopped at the end. Each test gets its own topics, consumer group and Redis key prefix.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from devtools.services import ServiceConfig, down, up
from tests.support import free_port

# a SCRAM user of the broker's SASL_PLAINTEXT listener (tests of Kafka credentials)
SCRAM_USER = ("kpi-worker", "scram-Secret-51d0")


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceConfig]:
    state: Path = tmp_path_factory.mktemp("services")
    cfg = ServiceConfig(state_dir=state, kafka_port=free_port(), controller_port=free_port(),
                        redis_port=free_port(), sasl_port=free_port(),
                        scram_users=(SCRAM_USER,), ssl_port=free_port())
    up(cfg)
    try:
        yield cfg
    finally:
        down(cfg)


@pytest.fixture
def ns() -> str:
    """A unique namespace for topics, group id and Redis prefix of one test."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def worker_env(services: ServiceConfig, ns: str, tmp_path: Path) -> dict[str, str]:
    from tests.support import free_port as fp

    return {
        "SUPPORT_KAFKA_BOOTSTRAP": services.bootstrap,
        "SUPPORT_REDIS_URL": services.redis_url,
        "SUPPORT_KEY_PREFIX": ns,
        "SUPPORT_APP_ID": f"{ns}-app",
        "SUPPORT_TOPIC_TICKETS": f"{ns}.tickets",
        "SUPPORT_TOPIC_CHATS": f"{ns}.chats",
        "SUPPORT_TOPIC_DLQ": f"{ns}.dlq",
        "SUPPORT_TOPIC_ALERTS": f"{ns}.alerts",
        "SUPPORT_TOPIC_PARTITIONS": "2",
        "SUPPORT_METRICS_PORT": str(fp()),
        "SUPPORT_DATA_DIR": str(tmp_path / "faust"),
        "SUPPORT_BATCH_WITHIN": "0.1",
    }


@pytest.fixture
def redis_client(services: ServiceConfig) -> redis.Redis:
    return redis.Redis.from_url(services.redis_url)
