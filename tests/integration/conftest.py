"""Real Apache Kafka (KRaft) and redis-server for the integration tests.

Started once per run by the project's own services module on free loopback ports (shared
by the xdist workers, tests/services.py), stopped at the end. Each test gets its own
topics, consumer group and Redis key prefix.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis

from devtools.services import ServiceConfig


@pytest.fixture(scope="session")
def services(request: pytest.FixtureRequest) -> ServiceConfig:
    """The run's shared Kafka and Redis (tests/services.py)."""
    from tests.conftest import run_root
    from tests.services import shared_services

    return shared_services(run_root(request.config))


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
        "SUPPORT_TOPIC_MARKS": f"{ns}.marks",
        "SUPPORT_TOPIC_AGENTS": f"{ns}.agents",
        "SUPPORT_TOPIC_CUSTOMERS": f"{ns}.customers",
        "SUPPORT_TOPIC_PARTITIONS": "2",
        "SUPPORT_METRICS_PORT": str(fp()),
        "SUPPORT_DATA_DIR": str(tmp_path / "faust"),
        "SUPPORT_BATCH_WITHIN": "0.1",
    }


@pytest.fixture
def redis_client(services: ServiceConfig) -> redis.Redis:
    return redis.Redis.from_url(services.redis_url)
