"""The stream through real Kafka and the real worker agrees with the batch oracle.

* a random history (shuffles, duplicates, stragglers, three partitions), in-process compare;
* a 100,000-event simulated floor replayed with the `replay` CLI, compared through the
  `query --json` and `oracle --json` CLIs for every window at several times;
* a history from 2019 (years old): `query --at` inside it gives the oracle's numbers.
"""

from __future__ import annotations

import gzip
import random
import time
from pathlib import Path

import pytest
import redis
from kafka import KafkaProducer

from devtools import oracle
from devtools.services import ServiceConfig
from supportkpi.settings import load_settings
from tests.agreement import diff_rows
from tests.histories import history
from tests.replay_check import cli, counters, disorder, replay_and_compare, seen
from tests.support import WorkerProcess, parse, scrape, wait_for
from windows.keys import Keys
from windows.reader import WindowReader

pytestmark = pytest.mark.integration


def test_random_history_through_kafka(services: ServiceConfig, worker_env: dict[str, str],
                                      tmp_path: Path) -> None:
    env = {**worker_env, "SUPPORT_TOPIC_PARTITIONS": "3", "SUPPORT_ALLOWED_LATENESS": "20m",
           "SUPPORT_DIMENSIONS": "all,queue,channel,queue*channel,team,priority,agent",
           "SUPPORT_AGENT_ALLOWLIST": "a1,a2", "SUPPORT_FRT_SLA_TARGETS": "urgent=5m,chat=2m"}
    settings = load_settings(**{k[8:].lower(): v for k, v in env.items()
                                if k.startswith("SUPPORT_") and k not in ("SUPPORT_DATA_DIR",)})
    cfg = settings.kpi_config()
    base = int(time.time() * 1000) - 4 * 3_600_000
    messages = history(random.Random(20261123), 150, base, 3 * 3_600_000,
                       cfg.allowed_lateness_ms, partitions=3)
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: seen(port) == 0, 60, "worker up")
        p = KafkaProducer(bootstrap_servers=services.bootstrap, acks="all")
        for part, key, value in messages:
            p.send(env["SUPPORT_TOPIC_TICKETS"], key=key, value=value, partition=part)
        p.flush()
        p.close()
        wait_for(lambda: seen(port) == len(messages), 120, f"{len(messages)} messages seen")
        accepted = oracle.accept(((env["SUPPORT_TOPIC_TICKETS"], pt, v)
                                  for pt, _k, v in messages), cfg)
        reader = WindowReader(redis.Redis.from_url(services.redis_url),
                              Keys(env["SUPPORT_KEY_PREFIX"]), cfg)
        at = base + 3 * 3_600_000 + 600_000
        ev = oracle.evaluate(accepted, cfg, at)
        windows, gauges = ev.windows, ev.gauges
        problems = []
        for w in cfg.windows:
            problems += diff_rows(reader.window(w, at).rows, windows[w.name], f"[{w.name}]")
        problems += diff_rows(reader.gauges(at), gauges, "[gauges]")
        assert accepted.late > 0 and accepted.duplicates > 0  # the disorder really happened
        assert counters(port)["support_events_late_dropped_total"] == accepted.late
        assert not problems, "\n".join(problems[:30])
        # identifiers never become labels: agents only when allow-listed, customers never
        labels = {v for (_n, ls) in parse(scrape(port)) for _k, v in ls}
        agents = {e.agent_id for e in accepted.events if e.agent_id}
        assert {"a1", "a2"} & labels and "other" in labels
        assert agents - {"a1", "a2"}, agents  # the history has agents off the allow-list
        assert not (agents - {"a1", "a2"}) & labels
        assert not {e.conversation_id for e in accepted.events} & labels
        assert not {e.event_id for e in accepted.events} & labels
    finally:
        worker.stop()


def test_100k_event_history_replayed_through_kafka_matches_oracle(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    env = {**worker_env, "SUPPORT_TOPIC_PARTITIONS": "4", "SUPPORT_BATCH_WITHIN": "0.2"}
    raw = tmp_path / "floor.jsonl.gz"
    end = int(time.time()) - 600
    cli(env, "simulate", "--backfill", "220m", "--until", str(end), "--rate", "110",
        "--seed", "100000", "--out", str(raw))
    file = tmp_path / "floor-disordered.jsonl.gz"
    n_lines = disorder(raw, file, random.Random(7))
    assert n_lines >= 100_000
    replay_and_compare(services, env, tmp_path, file, n_lines,
                        [str(end - 7200), str(end - 60), str(end + 300)])


def test_years_old_history_query_at_matches_oracle(services: ServiceConfig,
                                                   worker_env: dict[str, str],
                                                   tmp_path: Path) -> None:
    file = tmp_path / "2019.jsonl.gz"
    cli(worker_env, "simulate", "--backfill", "3h", "--until", "2019-06-01T12:00:00Z",
        "--rate", "20", "--seed", "2019", "--out", str(file))
    with gzip.open(file, "rt") as fh:
        n_lines = sum(1 for ln in fh if ln.strip())
    replay_and_compare(services, worker_env, tmp_path, file, n_lines,
                        ["2019-06-01T10:30:00Z", "2019-06-01T11:59:00Z"])
