"""Chatwoot's documented webhooks through the whole product: signed deliveries to the
real intake, its raw topic on a real broker, the worker's normalizer agent, the windows
in a real redis-server; the KPIs in `query` are the hand-computed ones. A delivery
retried three times counts once; a bad signature gets 401 and writes nothing; while
Kafka is down the intake answers 503, and the vendor's retry after it is back counts
once."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import os
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from devtools.services import ServiceConfig, start_kafka, stop_kafka
from tests.integration.intake import common
from tests.replay_check import cli, counters, rows_from_json, seen
from tests.support import ROOT, WorkerProcess, free_port, read_topic, wait_for

SECRET = "chatwoot-webhook-secret-3f9a"
FIXTURES = sorted((ROOT / "tests/fixtures/connectors/chatwoot").glob("*.json"))
MAPPED = 6  # started, queued, customer message, agent reply, ended, CSAT (not the note)
END = "2020-03-04T02:00:00Z"


def payload(path: Path) -> bytes:
    return json.dumps(json.loads(path.read_text())["payload"]).encode()


def post(port: int, body: bytes, secret: str = SECRET) -> int:
    ts = str(int(time.time()))
    sig = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body,
                               hashlib.sha256).hexdigest()
    return common.post(port, "chatwoot", body,
                       {"X-Chatwoot-Timestamp": ts, "X-Chatwoot-Signature": sig})


def raw_count(bootstrap: str, topic: str) -> int:
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
        return sum(c.end_offsets(parts).values())
    finally:
        c.close()


@pytest.fixture
def env(worker_env: dict[str, str], ns: str) -> dict[str, str]:
    return {**worker_env, "SUPPORT_CONNECTORS": "chatwoot",
            "SUPPORT_TOPIC_RAW_PREFIX": f"{ns}.raw", "SUPPORT_CHATWOOT_WEBHOOK_SECRET": SECRET,
            "SUPPORT_INTAKE_PORT": str(free_port()), "SUPPORT_READ_CLOCK": "event"}


def check_kpis(env: dict[str, str]) -> None:
    at = str(float(calendar.timegm(time.strptime(END, "%Y-%m-%dT%H:%M:%SZ"))))
    rows = rows_from_json(cli({**os.environ, **env}, "query", "--window", "1h", "--at", at,
                              "--json"))[(at, "1h")]
    row = rows["*"]
    assert (row["frt_count"], row["frt_mean_seconds"]) == (1, 125), row
    assert row["resolution_mean_seconds"] == 600 and row["csat_ratio"] == 1.0, row
    assert rows["queue=inbox-1"]["volume_created"] == 1


def test_chatwoot_webhooks_to_kpis_once_each(services: ServiceConfig, env: dict[str, str],
                                             tmp_path: Path) -> None:
    port = int(env["SUPPORT_METRICS_PORT"])
    raw_topic = f"{env['SUPPORT_TOPIC_RAW_PREFIX']}.chatwoot"
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    intake = None
    try:
        wait_for(lambda: seen(port) == 0, 60, "worker up")
        intake = common.start_intake(env, tmp_path / "intake.log")
        intake_port = int(env["SUPPORT_INTAKE_PORT"])  # a fresh one if the first was taken
        assert post(intake_port, payload(FIXTURES[0]), secret="wrong") == 401
        assert raw_count(services.bootstrap, raw_topic) == 0  # refused: nothing written
        for f in FIXTURES:
            assert post(intake_port, payload(f)) == 200, f
        for _ in range(2):  # Chatwoot retried the agent's reply: three deliveries in all
            assert post(intake_port, payload(FIXTURES[2])) == 200
        assert post(intake_port, b"not json at all") == 400  # kept for the DLQ, and said
        wait_for(lambda: seen(port) == MAPPED + 2, 60, "every mapped event seen")
        c = counters(port)
        assert c["support_events_processed_total"] == MAPPED, c
        assert c["support_events_duplicate_total"] == 2, c
        reasons = [dict(m.headers)["dlq.reason"]
                   for m in read_topic(services.bootstrap, env["SUPPORT_TOPIC_DLQ"])]
        assert reasons == [b"not_json"]
        check_kpis(env)
        log = (tmp_path / "intake.log").read_text() + worker.log_text()
        assert SECRET not in log
    finally:
        if intake is not None:
            intake.terminate()
            intake.wait(20)
        worker.stop()


def test_kafka_down_is_503_and_the_retry_counts_once(env: dict[str, str],
                                                     tmp_path: Path) -> None:
    """Its own broker, stopped and started again under the worker and the intake."""
    own = ServiceConfig(state_dir=tmp_path / "kafka", kafka_port=free_port(),
                        controller_port=free_port())
    start_kafka(own)
    env = {**env, "SUPPORT_KAFKA_BOOTSTRAP": own.bootstrap, "SUPPORT_INTAKE_ACK_TIMEOUT": "3"}
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    intake = None
    try:
        wait_for(lambda: seen(port) == 0, 90, "worker up")
        intake = common.start_intake(env, tmp_path / "intake.log")
        intake_port = int(env["SUPPORT_INTAKE_PORT"])
        for f in FIXTURES[:2]:
            assert post(intake_port, payload(f)) == 200
        wait_for(lambda: seen(port) == 3, 60, "the first deliveries counted")
        stop_kafka(own)
        assert post(intake_port, payload(FIXTURES[2])) == 503  # Chatwoot will retry it
        start_kafka(own)
        wait_for(lambda: post(intake_port, payload(FIXTURES[2])) == 200, 90,
                 "the retried delivery accepted", interval=2)
        for f in FIXTURES[3:]:
            assert post(intake_port, payload(f)) == 200
        wait_for(lambda: counters(port).get("support_events_processed_total") == MAPPED, 120,
                 "every event counted")
        check_kpis(env)  # once: a copy of the 503'd delivery that landed anyway is a duplicate
    finally:
        if intake is not None:
            intake.terminate()
            intake.wait(20)
        worker.stop()
        stop_kafka(own)
