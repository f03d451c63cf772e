"""SIGKILL the worker mid-stream, restart it: every count ends exactly as without the crash."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
import redis
from kafka import KafkaProducer

from devtools import oracle
from devtools import simulate as sim
from devtools.services import ServiceConfig
from kpi.conversation import contributions
from kpi.deltas import BucketDeltas, bucket_deltas, merge_bucket_deltas
from kpi.events import Event
from supportkpi.settings import load_settings
from tests.agreement import diff_rows
from tests.support import WorkerProcess, parse, sample, scrape, wait_for
from windows.keys import Keys
from windows.reader import WindowReader

pytestmark = pytest.mark.integration


def send_paced(bootstrap: str, routed: list[tuple[str, bytes, bytes]],
               per_s: float = 1500.0) -> None:
    """Produce over a few seconds, so that the kill lands while the worker is applying
    (sent at once, a fast worker applies them all before a quarter can be observed)."""
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    started = time.monotonic()
    for i, (topic, key, value) in enumerate(routed):
        if i % 50 == 0:
            time.sleep(max(0.0, started + i / per_s - time.monotonic()))
        p.send(topic, key=key, value=value)
    p.flush()
    p.close()


def processed(port: int) -> float:
    s = parse(scrape(port, "support_events_processed_total"))
    return sum(v for (name, _), v in s.items() if name == "support_events_processed_total")


def expected_buckets(
    events: list[dict[str, object]], env: dict[str, str]
) -> dict[str, dict[str, int]]:
    """All-at-once computation of every bucket hash (no stream, no Redis)."""
    from streams.schema import SchemaConfig, validate

    settings = load_settings(windows="5m,15m,1h,24h")
    cfg = settings.kpi_config()
    by_conv: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        ev = validate(json.dumps(e).encode(), SchemaConfig(), lambda: 2**62)
        by_conv[ev.conversation_id].append(ev)
    total: BucketDeltas = {}
    for evs in by_conv.values():
        merge_bucket_deltas(total, bucket_deltas(None, contributions(evs, cfg), cfg))
    return {f"b:{res}:{start}": {f: n for f, n in fields.items() if n}
            for (res, start), fields in total.items() if any(fields.values())}


def actual_buckets(client: redis.Redis, prefix: str) -> dict[str, dict[str, int]]:
    """Every bucket hash, merged over the partitions (``b:<res>:<start>`` → fields)."""
    out: dict[str, dict[str, int]] = {}
    for key in client.scan_iter(match=Keys(prefix).partition_patterns[0], count=1000):
        name = key.decode().split("}:", 1)[1]
        if not name.startswith("b:"):
            continue
        merged = out.setdefault(name, {})
        for k, v in client.hgetall(key).items():
            merged[k.decode()] = merged.get(k.decode(), 0) + int(v)
    return {name: {f: n for f, n in h.items() if n} for name, h in out.items()
            if any(h.values())}


def test_sigkill_mid_stream_changes_no_count(services: ServiceConfig, worker_env: dict[str, str],
                                              tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    events = sim.generate(sim.FloorParams(seed=11, rate_per_min=12), now_ms - 7_200_000, now_ms)
    env = {**worker_env, "SUPPORT_BATCH_MAX": "25"}
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "w1.log").start()
    try:
        wait_for(lambda: processed(port) == 0, 60, "worker /metrics")
        routed = list(sim.route(events, env["SUPPORT_TOPIC_TICKETS"],
                                env["SUPPORT_TOPIC_CHATS"]))
        producing = threading.Thread(target=send_paced, args=(services.bootstrap, routed))
        producing.start()
        n = len(events)
        wait_for(lambda: processed(port) >= n // 4, 120, "a quarter processed", interval=0.05)
        worker.kill()  # SIGKILL: no commit, no flush, no goodbye
        worker = WorkerProcess(env, tmp_path / "w2.log").start()
        wait_for(lambda: processed(port) >= 0, 60, "restarted worker /metrics")
        at_kill = processed(port)
        assert at_kill < n, "the worker had applied everything before the kill"
        producing.join(120)
        wait_for(lambda: processed(port) == n, 180, f"all {n} events processed")
        time.sleep(2)  # anything double-applied after the catch-up would show now
        s = parse(scrape(port))
        assert processed(port) == n
        assert sample(s, "support_events_duplicate_total") == 0
        print(f"{n} events; {at_kill} applied before the kill was observed")
        client = redis.Redis.from_url(services.redis_url)
        assert actual_buckets(client, env["SUPPORT_KEY_PREFIX"]) == expected_buckets(events, env)
        # the live queue gauges survived the crash too
        cfg = load_settings().kpi_config()
        accepted = oracle.accept(
            ((t, 0, v) for t, _k, v in sim.route(events, "t", "c")), cfg)
        at = int(time.time() * 1000)
        gauges = oracle.evaluate(accepted, cfg, at).gauges
        reader = WindowReader(client, Keys(env["SUPPORT_KEY_PREFIX"]), cfg)
        assert not diff_rows(reader.gauges(at), gauges, "[gauges]")
        assert "seek to" in worker.log_text()
    finally:
        worker.stop()
