"""A floor of 50 queues × 50 channels cannot flood Prometheus: the exported series stay
within the budget (the least busy combinations fold into 'other'), a real Prometheus
scraping at the shipped interval keeps the target up, the exposition passes
`promtool check metrics`, and data values spelled like the aggregate, overflow and
missing labels (all, other, unknown) make no duplicate series."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from kafka import KafkaProducer

from devtools.services import ServiceConfig
from tests.integration.alerts.conftest import get_json, start_prometheus
from tests.support import (
    ROOT,
    WorkerProcess,
    parse,
    promtool_check_metrics,
    sample,
    scrape,
    wait_for,
)

pytestmark = pytest.mark.integration

QUEUES = [*(f"q{i:02d}" for i in range(47)), "all", "other", "unknown"]
CHANNELS = [f"c{i:02d}" for i in range(50)]
BUDGET = 30_000  # SUPPORT_MAX_SERIES default


def shipped_interval() -> str:
    doc = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    return str(doc["global"]["scrape_interval"])


def floor() -> list[dict[str, object]]:
    now = time.time() - 120
    out: list[dict[str, object]] = []
    for q in QUEUES:
        for c in CHANNELS:
            cid = f"{q}-{c}"
            out.append({"event_id": f"{cid}-1", "type": "ticket.created", "occurred_at": now,
                        "conversation_id": cid, "queue": q, "channel": c})
            out.append({"event_id": f"{cid}-2", "type": "ticket.solved",
                        "occurred_at": now + 30, "conversation_id": cid})
    return out


def test_fifty_by_fifty_stays_within_the_series_budget(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    events = floor()
    port = int(worker_env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    prom_url, prom = start_prometheus(tmp_path, port, None, interval=shipped_interval())
    try:
        wait_for(lambda: sample(parse(scrape(port)), "support_redis_up") == 1, 60, "worker up")
        p = KafkaProducer(bootstrap_servers=services.bootstrap, acks="all", linger_ms=20)
        for e in events:
            p.send(worker_env["SUPPORT_TOPIC_TICKETS"], key=str(e["conversation_id"]).encode(),
                   value=json.dumps(e).encode())
        p.flush()
        p.close()
        topic = worker_env["SUPPORT_TOPIC_TICKETS"]
        wait_for(lambda: sample(parse(scrape(port)), "support_events_processed_total",
                                topic=topic) == len(events), 180, "every event applied")
        started = time.monotonic()
        text = scrape(port)
        print(f"/metrics: {len(text) / 1e6:.1f} MB in {time.monotonic() - started:.2f}s")
        lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
        assert len(lines) <= BUDGET + 500, len(lines)  # + the pipeline's own series
        dupes = [k for k, n in Counter(ln.rsplit(" ", 1)[0] for ln in lines).items() if n > 1]
        assert dupes == []
        promtool_check_metrics(text)
        s = parse(text)
        assert (sample(s, "support_series_folded", window="1h") or 0) > 0
        row = {"window": "1h", "channel": "all", "team": "all", "priority": "all"}
        for q in ("_all", "_other", "_unknown"):
            assert sample(s, "support_completed_conversations", **row, queue=q) == 50, q
        floor_row = {**row, "queue": "all"}
        assert sample(s, "support_completed_conversations", **floor_row) == len(QUEUES) * 50

        # Prometheus at the shipped interval keeps the target up over several scrapes
        def scraped(n: int) -> bool:
            doc = get_json(f"{prom_url}/api/v1/query?query=count_over_time(up[10m])")
            res = doc["data"]["result"]  # type: ignore[index]
            return bool(res) and int(res[0]["value"][1]) >= n

        wait_for(lambda: scraped(4), 120, "four scrapes", interval=2)
        for query, want in (("min_over_time(up[10m])", "1"),):
            doc = get_json(f"{prom_url}/api/v1/query?query={query}")
            assert doc["data"]["result"][0]["value"][1] == want  # type: ignore[index]
        doc = get_json(f"{prom_url}/api/v1/query?query=max_over_time(scrape_duration_seconds[10m])")
        print("longest scrape:", doc["data"]["result"][0]["value"][1], "s")  # type: ignore[index]
    finally:
        prom.terminate()
        worker.stop()
        prom.wait(20)
