"""Redis loses the windows (FLUSHALL, or a restart with persistence off) mid-stream.

The store's epoch is gone, every batch script refuses to write, and the worker restarts
in place and rebuilds from ``SUPPORT_REPLAY_FROM``: with ``earliest`` the windows equal
the oracle again and are reported complete; with ``committed`` the worker goes on from
the group's offsets and reports the windows incomplete. Never a silent count from zero.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from devtools.services import ServiceConfig
from tests.integration.streams.test_faults import (
    finish_and_check,
    make_history,
    start_worker,
    wait_seen,
)
from tests.replay_check import cli, seen
from tests.support import OwnRedis, parse, sample, scrape, wait_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("loss", ["flushall", "restart_without_persistence"])
def test_lost_store_is_rebuilt_from_earliest(services: ServiceConfig,
                                             worker_env: dict[str, str], tmp_path: Path,
                                             loss: str) -> None:
    own = OwnRedis(tmp_path / "redis", "--appendonly", "no").start()
    env = {**worker_env, "SUPPORT_REDIS_URL": own.url, "SUPPORT_BATCH_MAX": "20",
           "SUPPORT_SESSION_TIMEOUT": "6", "SUPPORT_REDIS_TIMEOUT": "2"}
    file, n, end = make_history(env, tmp_path, seed=23, minutes=40, rate=40)
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = start_worker(env, tmp_path / "w.log")
    try:
        cli(env, "replay", str(file))
        wait_seen(env, n // 3, "a third seen")
        if loss == "flushall":
            redis.Redis.from_url(own.url).flushall()
        else:
            own.kill()
            time.sleep(2)
            own.start()  # same port, empty: nothing was persisted
        finish_and_check(services, env, file, n, end, worker, exact_dlq=False)
        text = worker.log_text()
        assert "restarting the worker in place" in text and "had no epoch" in text, text[-3000:]
        s = parse(scrape(port))
        for w in ("5m", "15m", "1h", "24h"):
            assert sample(s, "support_store_complete", window=w) == 1, w
        assert sample(s, "support_store_lost_before_timestamp_seconds") == 0
    finally:
        worker.stop()
        own.kill()


def test_lost_store_with_replay_from_committed_is_reported_incomplete(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    own = OwnRedis(tmp_path / "redis", "--appendonly", "no").start()
    env = {**worker_env, "SUPPORT_REDIS_URL": own.url, "SUPPORT_BATCH_MAX": "20",
           "SUPPORT_SESSION_TIMEOUT": "6", "SUPPORT_REPLAY_FROM": "committed"}
    file, n, _end = make_history(env, tmp_path, seed=29, minutes=40, rate=40)
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = start_worker(env, tmp_path / "w.log")
    try:
        cli(env, "replay", str(file))
        wait_seen(env, n // 2, "half seen")
        time.sleep(2)  # let Faust commit what it has
        flushed_at = time.time()
        redis.Redis.from_url(own.url).flushall()
        wait_for(lambda: "INCOMPLETE for events before" in worker.log_text(), 60,
                 "the loss noticed and the rebuilt store reported incomplete")

        s = parse(scrape(port))
        assert (sample(s, "support_store_lost_before_timestamp_seconds") or 0) >= flushed_at - 1
        assert sample(s, "support_store_complete", window="5m") == 0
        assert sample(s, "support_store_complete", window="24h") == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/snapshot?window=15m",
                                    timeout=10) as resp:
            wall = json.load(resp)
        assert wall["incomplete_before"] >= flushed_at - 1  # the wall says INCOMPLETE
        after = worker.log_text().split("restarting the worker in place")[-1]
        assert "committed offset" in after and "seek to 0" not in after
        assert seen(port) < n  # it did not replay what it had already counted
    finally:
        worker.stop()
        own.kill()
