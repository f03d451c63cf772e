"""The hand-worked conversations of tests/definitions.py under each selectable definition,
as a person reads them: the numbers on /metrics and in ``query --json``, from a real
redis-server (every combination through the batch writer) and once through Kafka and
the real worker with the definitions set by environment variables."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import time
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from devtools.services import ServiceConfig
from kpi.config import CONVERSATION_FCR_DEFINITIONS, SERVICE_LEVEL_DEFINITIONS
from serve.exposition import render
from serve.metrics import KpiCollector
from streams.schema import SchemaConfig, validate
from supportkpi.settings import load_settings
from tests.definitions import CASES, event_docs, expected_row
from tests.replay_check import cli, rows_from_json, seen
from tests.support import WorkerProcess, parse, sample, scrape, wait_for
from windows.keys import Keys
from windows.reader import WindowReader
from windows.writer import Record, WindowWriter

T0 = int(time.time() * 1000) // 3_600_000 * 3_600_000 - 3 * 86_400_000  # three days ago
AT = T0 + 36 * 3_600_000  # the 2d window at AT holds every case
ENV = {"SUPPORT_WINDOWS": "1h,2d", "SUPPORT_FRT_SLA": "2m", "SUPPORT_SHORT_ABANDON": "10s"}
# every FCR definition, and every service-level definition at least once
COMBOS = list(zip(CONVERSATION_FCR_DEFINITIONS, itertools.cycle(SERVICE_LEVEL_DEFINITIONS),
                  strict=False))
KEYS = ("fcr_eligible", "fcr_resolved", "fcr_ratio", "sla_samples", "frt_sla_ratio")
METRICS = {"fcr_eligible": "support_fcr_eligible_conversations",
           "fcr_resolved": "support_fcr_conversations", "fcr_ratio": "support_fcr_ratio",
           "sla_samples": "support_service_level_samples",
           "frt_sla_ratio": "support_first_response_sla_ratio"}


def lines() -> list[bytes]:
    return [json.dumps(d).encode() for i, c in enumerate(CASES)
            for d in event_docs(c, f"case{i}", T0)]


def _env(services: ServiceConfig, prefix: str, fcr: str, sla: str) -> dict[str, str]:
    return {**ENV, "SUPPORT_REDIS_URL": services.redis_url, "SUPPORT_KEY_PREFIX": prefix,
            "SUPPORT_FCR_DEFINITION": fcr, "SUPPORT_SERVICE_LEVEL": sla}


def _write(services: ServiceConfig, prefix: str, env: dict[str, str]) -> None:
    settings = load_settings(**{k.removeprefix("SUPPORT_").lower(): v for k, v in env.items()
                                if k not in ("SUPPORT_REDIS_URL", "SUPPORT_KEY_PREFIX")})
    records = [Record(i, event=validate(raw, SchemaConfig(), lambda: 2**62))
               for i, raw in enumerate(lines())]

    async def go() -> None:
        client = aioredis.Redis.from_url(services.redis_url)
        await WindowWriter(client, Keys(prefix), settings.kpi_config(), time.time).apply(
            "tickets", 0, records)
        await client.aclose()

    asyncio.run(go())


def _check(row: dict[str, float | None], want: dict[str, float], where: str) -> None:
    for key in KEYS:
        assert row[key] == pytest.approx(want[key]), f"{where} {key}"


@pytest.mark.parametrize(("fcr", "sla"), COMBOS)
def test_metrics_and_query_show_each_definition(services: ServiceConfig, ns: str,
                                                fcr: str, sla: str) -> None:
    env = _env(services, ns, fcr, sla)
    _write(services, ns, env)
    want = expected_row(CASES, fcr, sla)
    cfg = load_settings(windows="1h,2d").kpi_config()
    reader = WindowReader(redis.Redis.from_url(services.redis_url), Keys(ns), cfg,
                          clock=lambda: AT / 1000)
    registry = CollectorRegistry()
    registry.register(KpiCollector(reader, cfg))
    s = parse(render(registry.collect()).decode())
    labels = {"window": "2d", "queue": "billing", "channel": "all", "team": "all",
              "priority": "all"}
    on_metrics = {key: sample(s, metric, **labels) for key, metric in METRICS.items()}
    _check(on_metrics, want, f"/metrics {fcr} {sla}")  # type: ignore[arg-type]
    rows = rows_from_json(cli(env, "query", "--window", "2d", "--at", str(AT / 1000),
                              "--json"))
    _check(rows[(str(AT / 1000), "2d")]["queue=billing"], want, f"query {fcr} {sla}")


def test_through_kafka_and_the_worker(services: ServiceConfig, worker_env: dict[str, str],
                                      tmp_path: Path) -> None:
    fcr, sla = "intercom_one_teammate", "talkdesk"
    env = {**worker_env, **ENV, "SUPPORT_FCR_DEFINITION": fcr, "SUPPORT_SERVICE_LEVEL": sla,
           "SUPPORT_READ_CLOCK": "event"}
    file = tmp_path / "cases.jsonl.gz"
    with gzip.open(file, "wb") as fh:
        fh.write(b"\n".join(lines()) + b"\n")
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: seen(port) == 0, 60, "worker up")
        cli(env, "replay", str(file))
        wait_for(lambda: seen(port) == len(lines()), 60, "every event applied")
        want = expected_row(CASES, fcr, sla)
        s = parse(scrape(port))
        labels = {"window": "2d", "queue": "billing", "channel": "all", "team": "all",
                  "priority": "all"}
        _check({k: sample(s, m, **labels) for k, m in METRICS.items()},  # type: ignore[misc]
               want, "/metrics")
        rows = rows_from_json(cli(env, "query", "--window", "2d", "--at", str(AT / 1000),
                                  "--json"))
        _check(rows[(str(AT / 1000), "2d")]["queue=billing"], want, "query")
    finally:
        worker.stop()
