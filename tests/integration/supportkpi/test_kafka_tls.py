"""The worker, replay and the topic admin reach Kafka over TLS (the session broker's SSL
listener, a self-signed certificate for 127.0.0.1), trusting the CA named by
SUPPORT_KAFKA_SSL_CAFILE; a broker it cannot verify is a clear start-up error."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.services import ServiceConfig
from tests.replay_check import small_floor_through_worker
from tests.support import worker_start_up_error

pytestmark = pytest.mark.integration


def tls_env(services: ServiceConfig, worker_env: dict[str, str]) -> dict[str, str]:
    return {**worker_env, "SUPPORT_KAFKA_BOOTSTRAP": f"127.0.0.1:{services.ssl_port}",
            "SUPPORT_KAFKA_SECURITY_PROTOCOL": "SSL",
            "SUPPORT_KAFKA_SSL_CAFILE": str(services.tls_cafile)}


def test_worker_consumes_over_tls(services: ServiceConfig, worker_env: dict[str, str],
                                  tmp_path: Path) -> None:
    small_floor_through_worker(tls_env(services, worker_env), tmp_path, 9, "over TLS")


def test_a_broker_that_cannot_be_verified_is_a_clear_start_up_error(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    env = tls_env(services, worker_env)
    del env["SUPPORT_KAFKA_SSL_CAFILE"]  # the system's CAs do not know the test's certificate
    out = worker_start_up_error(env)
    assert "certificate" in out.lower() or "ssl" in out.lower(), out[-2000:]
