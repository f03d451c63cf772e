"""The worker, the simulator and replay reach Kafka through SASL/SCRAM with credentials
from the environment; wrong credentials stop the worker with a clear message, and the
password is never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.services import ServiceConfig
from tests.replay_check import small_floor_through_worker
from tests.services import SCRAM_USER
from tests.support import worker_start_up_error

pytestmark = pytest.mark.integration


def sasl_env(services: ServiceConfig, worker_env: dict[str, str], password: str,
             mechanism: str) -> dict[str, str]:
    return {**worker_env, "SUPPORT_KAFKA_BOOTSTRAP": f"127.0.0.1:{services.sasl_port}",
            "SUPPORT_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "SUPPORT_KAFKA_SASL_MECHANISM": mechanism,
            "SUPPORT_KAFKA_USERNAME": SCRAM_USER[0], "SUPPORT_KAFKA_PASSWORD": password}


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_worker_consumes_through_sasl_scram(services: ServiceConfig,
                                            worker_env: dict[str, str], tmp_path: Path,
                                            mechanism: str) -> None:
    env = sasl_env(services, worker_env, SCRAM_USER[1], mechanism)
    worker = small_floor_through_worker(env, tmp_path, 8, "through SASL")
    assert SCRAM_USER[1] not in worker.log_text()


def test_wrong_kafka_password_is_a_clear_start_up_error(services: ServiceConfig,
                                                        worker_env: dict[str, str],
                                                        tmp_path: Path) -> None:
    env = sasl_env(services, worker_env, "not-the-password", "SCRAM-SHA-512")
    out = worker_start_up_error(env, timeout=90)
    assert "Kafka" in out and "authentication" in out.lower(), out[-2000:]
    assert "refused the worker as kpi-worker" in out, out[-2000:]
    assert "not-the-password" not in out
