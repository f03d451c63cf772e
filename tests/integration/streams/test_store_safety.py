"""A store that lost data without an error (issue 32), with real redis-server processes:

* an evicting ``maxmemory-policy`` is refused at start-up in one line; switched on while
  running it stops the counting (unacknowledged, ``/ready`` 503, ``support_redis_evicting``
  for the pipeline alert) until it is ``noeviction`` again; keys evicted meanwhile, or while
  no worker ran, make the store rebuild from Kafka, ending equal to the oracle;
* Redis restored from an older snapshot while no worker ran, the group's commits deleted:
  the store's marks on Kafka tell, the missing range is re-applied (equal to the oracle);
  with that range gone from Kafka the windows say they are incomplete, and the lost offsets
  are on /metrics for the alert that names them;
* a worker that joins while Redis is down says it is not ready.
"""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
from kafka import KafkaAdminClient, TopicPartition

from devtools.services import ServiceConfig
from tests.integration.streams.test_faults import finish_and_check, make_history, start_worker
from tests.replay_check import cli, compare_with_oracle, seen
from tests.support import (
    OwnRedis,
    WorkerProcess,
    free_port,
    parse,
    sample,
    scrape,
    wait_for,
    worker_start_up_error,
)

pytestmark = pytest.mark.integration


def ready(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def evicting(port: int) -> float | None:
    return sample(parse(scrape(port, "support_redis_evicting")), "support_redis_evicting")


def _env(worker_env: dict[str, str], own: OwnRedis) -> dict[str, str]:
    # a liveness timeout of 8 s makes the periodic store check run every 2 s
    return {**worker_env, "SUPPORT_REDIS_URL": own.url, "SUPPORT_BATCH_MAX": "40",
            "SUPPORT_LIVENESS_TIMEOUT": "8", "SUPPORT_SESSION_TIMEOUT": "6"}


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru"])
def test_an_evicting_policy_is_refused_at_start_up_in_one_line(
        worker_env: dict[str, str], tmp_path: Path, policy: str) -> None:
    own = OwnRedis(tmp_path / "redis", "--maxmemory-policy", policy).start()
    out = worker_start_up_error(_env(worker_env, own), timeout=60)
    lines = [ln for ln in out.splitlines() if "maxmemory-policy" in ln]
    assert len(lines) == 1, out
    assert f"maxmemory-policy {policy}" in lines[0] and \
        "set maxmemory-policy noeviction" in lines[0], lines[0]


def test_a_policy_switched_to_evicting_stops_the_counting_until_it_is_back(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    own = OwnRedis(tmp_path / "redis").start()
    env = _env(worker_env, own)
    file, n, end = make_history(env, tmp_path, seed=5, minutes=40, rate=15)
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = start_worker(env, tmp_path / "w.log")
    client = redis.Redis.from_url(own.url)
    try:
        assert evicting(port) == 0
        client.config_set("maxmemory-policy", "allkeys-lru")
        wait_for(lambda: evicting(port) == 1 and ready(port) == 503, 30,
                 "evicting on /metrics and not ready")
        cli(env, "replay", str(file), "--order", "file", "--accept-late")
        for _ in range(3):  # three periodic checks' worth (2 s): nothing is counted
            time.sleep(2)
            assert seen(port) == 0, seen(port)
        assert "maxmemory-policy is allkeys-lru" in worker.log_text()
        client.config_set("maxmemory-policy", "noeviction")  # nothing was evicted
        wait_for(lambda: evicting(port) == 0 and ready(port) == 200, 30, "writable again")
        finish_and_check(services, env, file, n, end, worker)
        assert "dropping the store's epoch" not in worker.log_text()
    finally:
        worker.stop()
        own.kill()


def _evict_some(client: redis.Redis) -> int:
    """Squeeze memory under allkeys-lru until Redis evicts; how many keys it evicted."""
    before = int(client.info("stats")["evicted_keys"])
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("maxmemory", str(int(used * 0.8)))
    for i in range(50):  # writes make Redis evict to make room
        client.set(f"squeeze:{i}", b"x" * 10_000)
    evicted = int(client.info("stats")["evicted_keys"]) - before
    client.config_set("maxmemory", "0")
    client.config_set("maxmemory-policy", "noeviction")
    return evicted


def test_keys_evicted_while_no_worker_ran_are_rebuilt_from_kafka(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    own = OwnRedis(tmp_path / "redis").start()
    env = _env(worker_env, own)
    file, n, end = make_history(env, tmp_path, seed=7, minutes=40, rate=25)
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = start_worker(env, tmp_path / "w1.log")
    try:
        cli(env, "replay", str(file), "--order", "file", "--accept-late")
        wait_for(lambda: seen(port) >= n, 90, "the history applied")
        time.sleep(2.5)  # a periodic check records the eviction counter it saw
    finally:
        worker.stop()
    assert _evict_some(redis.Redis.from_url(own.url)) > 0
    worker = WorkerProcess(env, tmp_path / "w2.log").start()
    try:
        wait_for(lambda: "Redis evicted" in worker.log_text(), 60, "the evictions noticed")
        finish_and_check(services, env, file, n, end, worker, exact_dlq=False)
        text = worker.log_text()
        assert "dropping the store's epoch to rebuild them from Kafka" in text, text[-3000:]
        assert "restarting the worker in place" in text
    finally:
        worker.stop()
        own.kill()


def _applied_then_snapshot(env: dict[str, str], own: OwnRedis, tmp_path: Path,
                           first: Path, second: Path) -> int:
    """Apply ``first``, snapshot Redis, apply ``second``, stop the worker: the number of
    lines seen, and the snapshot at tmp_path/t1.rdb."""
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = start_worker(env, tmp_path / "w1.log")
    client = redis.Redis.from_url(own.url)
    try:
        n1 = len(first.read_bytes().splitlines())
        cli(env, "replay", str(first))
        wait_for(lambda: seen(port) >= n1, 90, "the first part applied")
        client.bgsave()
        wait_for(lambda: client.info("persistence")["rdb_bgsave_in_progress"] == 0
                 and client.info("persistence")["rdb_last_bgsave_status"] == "ok", 30,
                 "snapshot written")
        shutil.copy(own.base / "dump.rdb", tmp_path / "t1.rdb")
        n2 = n1 + len(second.read_bytes().splitlines())
        cli(env, "replay", str(second))
        wait_for(lambda: seen(port) >= n2, 90, "the second part applied")
        time.sleep(2)  # the worker marks what it applied (every second)
        return n2
    finally:
        worker.stop()


def _restore(own: OwnRedis, tmp_path: Path, env: dict[str, str]) -> None:
    """Redis back at the snapshot, and the group's commits gone: only the marks can tell."""
    own.kill()
    shutil.copy(tmp_path / "t1.rdb", own.base / "dump.rdb")
    own.start()
    admin = KafkaAdminClient(bootstrap_servers=env["SUPPORT_KAFKA_BOOTSTRAP"])
    try:
        admin.delete_groups([env["SUPPORT_APP_ID"]])
    finally:
        admin.close()


def _halves(env: dict[str, str], tmp_path: Path) -> tuple[Path, Path, Path]:
    whole = tmp_path / "floor.jsonl"
    cli(env, "simulate", "--backfill", "40m", "--until", str(int(time.time()) - 120),
        "--rate", "20", "--seed", "13", "--out", str(whole))
    lines = whole.read_text().splitlines()
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    second.write_text("\n".join(lines[len(lines) // 2:]) + "\n")
    return whole, first, second


def test_a_restore_while_no_worker_ran_is_detected_by_the_marks_and_healed(
        worker_env: dict[str, str], tmp_path: Path) -> None:
    own = OwnRedis(tmp_path / "redis", "--appendonly", "no", "--dbfilename", "dump.rdb").start()
    env = _env(worker_env, own)
    whole, first, second = _halves(env, tmp_path)
    n = _applied_then_snapshot(env, own, tmp_path, first, second)
    _restore(own, tmp_path, env)
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "w2.log").start()
    try:
        wait_for(lambda: seen(port) >= n, 90, "the lost half re-applied")
        assert seen(port) == n
        text = worker.log_text()
        assert "the store is behind what was applied" in text and "its mark says" in text, \
            text[-3000:]
        s = parse(scrape(port))
        rewound = sum(v for (name, _l), v in s.items()
                      if name == "support_store_rewound_offsets_total")
        assert rewound > 0
        assert all(sample(s, "support_store_complete", window=w) == 1 for w in ("5m", "24h"))
        end = int(time.time())
        compare_with_oracle(env, whole, [str(end - 1800), str(end)])
    finally:
        worker.stop()
        own.kill()


def test_a_restore_past_what_kafka_holds_is_reported_incomplete(
        worker_env: dict[str, str], tmp_path: Path) -> None:
    own = OwnRedis(tmp_path / "redis", "--appendonly", "no", "--dbfilename", "dump.rdb").start()
    env = _env(worker_env, own)
    _whole, first, second = _halves(env, tmp_path)
    _applied_then_snapshot(env, own, tmp_path, first, second)
    _restore(own, tmp_path, env)
    admin = KafkaAdminClient(bootstrap_servers=env["SUPPORT_KAFKA_BOOTSTRAP"])
    try:  # retention took everything written so far
        ends = {}
        for topic in (env["SUPPORT_TOPIC_TICKETS"], env["SUPPORT_TOPIC_CHATS"]):
            for p in range(int(env["SUPPORT_TOPIC_PARTITIONS"])):
                ends[TopicPartition(topic, p)] = -1  # -1: up to the high watermark
        admin.delete_records(ends)
    finally:
        admin.close()
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "w2.log").start()
    try:
        def lost() -> bool:
            s = parse(scrape(port))
            return sample(s, "support_store_complete", window="24h") == 0 and any(
                name == "support_store_lost_offsets" and v > 0 for (name, _l), v in s.items())

        wait_for(lost, 60, "windows incomplete and the lost offsets on /metrics")
        assert "INCOMPLETE" in worker.log_text()
        query = cli(env, "query", "--window", "24h")
        assert "INCOMPLETE: Redis lost data" in query and "Kafka no longer holds" in query
    finally:
        worker.stop()
        own.kill()


def test_a_worker_that_joins_while_redis_is_down_is_not_ready(
        worker_env: dict[str, str], tmp_path: Path) -> None:
    own = OwnRedis(tmp_path / "redis").start()
    env = _env(worker_env, own)
    a = start_worker(env, tmp_path / "a.log")
    port_b = free_port()
    b: WorkerProcess | None = None
    try:
        assert ready(int(env["SUPPORT_METRICS_PORT"])) == 200
        own.kill()
        b = WorkerProcess({**env, "SUPPORT_METRICS_PORT": str(port_b)}, tmp_path / "b.log")
        b.start()
        wait_for(lambda: ready(port_b) == 503, 60, "the newcomer says it is not ready")
        for _ in range(3):  # and keeps saying so while the outage lasts
            time.sleep(2)
            assert ready(port_b) == 503
            assert ready(int(env["SUPPORT_METRICS_PORT"])) == 503
        own.start()
        wait_for(lambda: ready(port_b) == 200, 60, "ready once Redis is back")
    finally:
        a.stop()
        if b is not None:
            b.stop()
        own.kill()
