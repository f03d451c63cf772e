"""The intake tests' floor: a real worker and intake on the test's own topics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.intake import common
from tests.integration.intake.floor import SECRET, VENDORS, Floor
from tests.replay_check import seen
from tests.support import WorkerProcess, free_port, wait_for


@pytest.fixture
def lateness() -> str:
    """The floor's SUPPORT_ALLOWED_LATENESS (its default); a module overrides the fixture
    to change it."""
    return "1h"


@pytest.fixture
def floor(worker_env: dict[str, str], ns: str, tmp_path: Path, lateness: str
          ) -> Iterator[Floor]:
    env = {**worker_env, "SUPPORT_CONNECTORS": ",".join(VENDORS),
           "SUPPORT_TOPIC_RAW_PREFIX": f"{ns}.raw", "SUPPORT_INTAKE_PORT": str(free_port()),
           "SUPPORT_ALLOWED_LATENESS": lateness,
           **{f"SUPPORT_{v.upper()}_WEBHOOK_SECRET": SECRET for v in VENDORS}}
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    intake = None
    try:
        wait_for(lambda: seen(int(env["SUPPORT_METRICS_PORT"])) == 0, 60, "worker up")
        intake = common.start_intake(env, tmp_path / "intake.log")
        yield Floor(env, worker, tmp_path)
    finally:
        if intake is not None:
            intake.terminate()
            intake.wait(20)
        worker.stop()
