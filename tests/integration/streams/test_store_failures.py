"""Redis failing the way production Redis fails, with real redis-server processes:

* restored from an older snapshot mid-stream (a failover to a lagging replica looks the
  same): the worker notices the store went back in time, re-applies the missing offsets
  from Kafka, and the windows equal the oracle, nothing doubled;
* down during a rebalance: two workers, Redis stopped, one SIGKILLed, Redis back after
  30 s: the survivor waits (not ready), never exits, and processes everything;
* out of memory (``maxmemory`` with ``noeviction``): no valid event is dead-lettered,
  the health gauges say 0 while it is full, no restart loop, everything applied once
  memory is raised.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
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
from tests.support import OwnRedis, free_port, parse, sample, scrape, wait_for

pytestmark = pytest.mark.integration


def ready(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_store_restored_from_an_older_snapshot_is_healed(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    own = OwnRedis(tmp_path / "redis", "--appendonly", "no", "--dbfilename", "dump.rdb").start()
    env = {**worker_env, "SUPPORT_REDIS_URL": own.url, "SUPPORT_BATCH_MAX": "20",
           "SUPPORT_SESSION_TIMEOUT": "6", "SUPPORT_REDIS_TIMEOUT": "2"}
    file, n, end = make_history(env, tmp_path, seed=31, minutes=40, rate=40)
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = start_worker(env, tmp_path / "w.log")
    # paced (40 simulated minutes in ~30 s): the batch path would apply the whole history
    # between the first quarter and the snapshot, leaving nothing to apply after it
    replay = subprocess.Popen([sys.executable, "-m", "supportkpi.cli", "replay", str(file),
                               "--speed", "80"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        wait_seen(env, n // 4, "a quarter seen")
        client = redis.Redis.from_url(own.url)
        client.bgsave()  # t1
        wait_for(lambda: client.info("persistence")["rdb_bgsave_in_progress"] == 0
                 and client.info("persistence")["rdb_last_bgsave_status"] == "ok", 30,
                 "snapshot written")
        at_t1 = seen(port)
        shutil.copy(own.base / "dump.rdb", tmp_path / "t1.rdb")
        wait_seen(env, at_t1 + n // 4, "more applied after the snapshot")
        own.kill()  # nothing persisted since t1 (no AOF, no save points)
        shutil.copy(tmp_path / "t1.rdb", own.base / "dump.rdb")
        own.start()  # the same port, back at t1: the epoch came back with it
        _, err = replay.communicate(timeout=120)
        assert replay.returncode == 0, err[-3000:]
        finish_and_check(services, env, file, n, end, worker, exact_dlq=False)
        text = worker.log_text()
        assert "went back in time" in text and "re-applying" in text, text[-3000:]
        s = parse(scrape(port))
        rewinds = sum(v for (name, _l), v in s.items()
                      if name == "support_store_rewinds_total")
        rewound = sum(v for (name, _l), v in s.items()
                      if name == "support_store_rewound_offsets_total")
        assert rewinds >= 1 and rewound >= 1, (rewinds, rewound)
        for w in ("5m", "1h", "24h"):
            assert sample(s, "support_store_complete", window=w) == 1, w
    finally:
        if replay.poll() is None:
            replay.kill()
        worker.stop()
        own.kill()


def test_a_store_outage_during_a_rebalance_never_makes_a_worker_exit(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    own = OwnRedis(tmp_path / "redis").start()  # fsync-always AOF: a stop loses nothing
    env = {**worker_env, "SUPPORT_REDIS_URL": own.url, "SUPPORT_BATCH_MAX": "20",
           "SUPPORT_SESSION_TIMEOUT": "6", "SUPPORT_REDIS_TIMEOUT": "2",
           "SUPPORT_LIVENESS_TIMEOUT": "10"}
    file, n, end = make_history(env, tmp_path, seed=37, minutes=40, rate=40)
    port_b = free_port()
    a = start_worker(env, tmp_path / "a.log")
    b = start_worker({**env, "SUPPORT_METRICS_PORT": str(port_b)}, tmp_path / "b.log")
    try:
        cli(env, "replay", str(file))
        wait_seen(env, n // 3, "a third seen")
        own.kill()
        a.kill()  # its partitions move to b while Redis is down
        wait_for(lambda: ready(port_b) == 503, 30, "the survivor says it is not ready")
        time.sleep(30)
        b.assert_running()
        assert sample(parse(scrape(port_b)), "support_worker_redis_up") == 0
        own.start()
        wait_for(lambda: ready(port_b) == 200, 60, "ready again once Redis is back")
        finish_and_check(services, {**env, "SUPPORT_METRICS_PORT": str(port_b)}, file, n,
                         end, b, exact_dlq=False)
        b.assert_running()
        assert "restarting the worker in place" not in b.log_text()
    finally:
        a.kill()
        b.stop()
        own.kill()


def test_a_full_store_dead_letters_nothing_and_resumes_when_memory_is_raised(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    own = OwnRedis(tmp_path / "redis", "--appendonly", "no").start()
    env = {**worker_env, "SUPPORT_REDIS_URL": own.url, "SUPPORT_BATCH_MAX": "50",
           "SUPPORT_LIVENESS_TIMEOUT": "10"}
    file, n, end = make_history(env, tmp_path, seed=41, minutes=60, rate=60)
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = start_worker(env, tmp_path / "w.log")
    client = redis.Redis.from_url(own.url)
    try:
        used = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", str(used + 1_500_000))  # full partway through
        cli(env, "replay", str(file))

        def full() -> bool:
            s = parse(scrape(port))
            return sample(s, "support_worker_redis_up") == 0 and \
                sample(s, "support_redis_up") == 0

        wait_for(full, 90, "the store full: both health gauges 0", interval=0.5)
        assert seen(port) < n
        assert ready(port) == 503
        time.sleep(15)  # longer than the liveness timeout: still no restart
        worker.assert_running()
        client.config_set("maxmemory", "0")
        # every line once, windows = oracle, and the DLQ holds exactly the invalid lines,
        # each once however often its batch was retried (no valid event dead-lettered for
        # the store's state)
        finish_and_check(services, env, file, n, end, worker, exact_dlq=True)
        s = parse(scrape(port))
        assert sample(s, "support_redis_up") == 1 and sample(s, "support_worker_redis_up") == 1
        retries = sample(s, "support_store_retries_total", reason="redis_out_of_memory") or 0
        assert retries >= 10, retries
        assert "restarting the worker in place" not in worker.log_text()
    finally:
        worker.stop()
        own.kill()
