"""One message that cannot be stored (a lone surrogate, a score of 10**400, a year-1
timestamp) in a 1,000-message batch: it alone is dead-lettered, and the other 999 go
through the batch script in one call, against a real redis-server. (The dead-letter sink
here only records: the DLQ's own path through Kafka is covered by the fault tests.)"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from devtools.services import ServiceConfig
from kpi.config import KpiConfig, windows_from_text
from streams.processor import BatchProcessor, RawMessage
from streams.schema import SchemaConfig
from streams.telemetry import WorkerTelemetry
from windows.keys import Keys
from windows.writer import WindowWriter

pytestmark = pytest.mark.integration

POISON = [
    b'{"event_id":"p","type":"ticket.created","occurred_at":1700000000,'
    b'"conversation_id":"P\\ud800"}',
    b'{"event_id":"p","type":"survey.csat","occurred_at":1700000000,"conversation_id":"P",'
    b'"score":' + str(10**400).encode() + b"}",
    b'{"event_id":"p","type":"ticket.created","occurred_at":"0001-01-01T00:00:00Z",'
    b'"conversation_id":"P"}',
]


class Recorded:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def send(self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.reasons.append(dict(headers)["dlq.reason"].decode())


@pytest.mark.parametrize("poison", POISON, ids=["lone_surrogate", "huge_score", "year_1"])
def test_one_poison_message_leaves_the_rest_in_one_script_call(
        services: ServiceConfig, ns: str, poison: bytes) -> None:
    now = time.time()
    msgs = [RawMessage(i, b"k", json.dumps({
        "event_id": f"e{i}", "type": "ticket.created", "occurred_at": now - 60,
        "conversation_id": f"c{i}", "queue": "billing"}).encode()) for i in range(999)]
    msgs.insert(500, RawMessage(999, b"k", poison))
    msgs = [RawMessage(i, m.key, m.value) for i, m in enumerate(msgs)]

    async def go() -> tuple[int, int, list[str]]:
        client = aioredis.Redis.from_url(services.redis_url)
        writer = WindowWriter(client, Keys(ns), KpiConfig(windows=windows_from_text("5m")),
                              time.time)
        dlq = Recorded()
        proc = BatchProcessor(writer, dlq, SchemaConfig(), time.time,
                              WorkerTelemetry(CollectorRegistry()))
        result = await proc.process("tickets", 0, msgs)
        await client.aclose()
        return writer.script_calls, result.applied, dlq.reasons

    calls, applied, reasons = asyncio.run(go())
    assert (calls, applied) == (1, 999)
    assert len(reasons) == 1 and reasons[0] in ("bad_text", "score_out_of_range",
                                                "before_1970")
