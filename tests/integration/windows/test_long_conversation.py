"""A 100,000-event conversation against a real redis-server: its state stays bounded
(SUPPORT_MAX_CONVERSATION_EVENTS, 200) and every window and live gauge still equals the
batch oracle, which keeps every event. (What it costs per event against short
conversations is measured by ``bench.long_conversation``, not asserted here.)"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import redis
import redis.asyncio as aioredis

from devtools import oracle
from devtools.services import ServiceConfig
from streams.schema import SchemaConfig, validate
from supportkpi.settings import load_settings
from tests.agreement import diff_rows
from windows.keys import Keys
from windows.reader import WindowReader
from windows.writer import Record, WindowWriter

CFG = load_settings(windows="5m,1h,24h", dimensions="all,queue,channel,agent",
                    agent_allowlist="a1", frt_sla_targets="chat=2m").kpi_config()
N = 100_000


def _history(start_ms: int) -> list[bytes]:
    """A chat that goes back and forth for 28 hours, with a handoff, a survey and a
    customer sometimes writing twice before an answer."""
    out = [{"event_id": "e0", "type": "chat.started", "occurred_at": start_ms / 1000,
            "conversation_id": "long", "queue": "billing", "channel": "chat"}]
    for i in range(1, N):
        t = start_ms + i * 1000
        if i == 7:
            doc = {"type": "chat.handoff"}
        elif i % 5000 == 0:
            doc = {"type": "survey.csat", "score": 4 + i % 2}
        else:
            customer = i % 2 == 1 or i % 7 == 0
            doc = {"type": "chat.message", "actor": "customer" if customer else "agent"}
            if not customer:
                doc["agent_id"] = "a1" if i % 3 else "a2"
        out.append({"event_id": f"e{i}", "occurred_at": t / 1000,
                    "conversation_id": "long", **doc})
    return [json.dumps(d).encode() for d in out]


def test_a_100k_event_conversation_has_bounded_state_and_oracle_numbers(
        services: ServiceConfig) -> None:
    prefix = "long" + uuid.uuid4().hex[:8]
    start = int(time.time() * 1000) - (N + 600) * 1000
    raw = _history(start)
    records = [Record(i, event=validate(v, SchemaConfig(), lambda: 2**62))
               for i, v in enumerate(raw)]
    sizes: list[int] = []

    async def go() -> None:
        client = aioredis.Redis.from_url(services.redis_url)
        writer = WindowWriter(client, Keys(prefix), CFG, time.time)
        key = Keys(prefix).of("chats:0").conversation("long")
        for i in range(0, N, 1000):
            result = await writer.apply("chats", 0, records[i:i + 1000])
            assert result.applied == len(records[i:i + 1000]) and not result.late
            sizes.append(int(await client.memory_usage(key) or 0))
        await client.aclose()

    asyncio.run(go())
    assert max(sizes) < 64 * 1024, max(sizes)  # was 8.7 MB unbounded
    at = start + N * 1000 + 60_000
    accepted = oracle.accept((("chats", 0, v) for v in raw), CFG)
    ev = oracle.evaluate(accepted, CFG, at)
    windows, gauges = ev.windows, ev.gauges
    reader = WindowReader(redis.Redis.from_url(services.redis_url), Keys(prefix), CFG)
    problems = []
    for w in CFG.windows:
        rows = reader.window(w, at).rows
        problems += diff_rows(rows, windows[w.name], f"[{w.name}]")
    problems += diff_rows(reader.gauges(at), gauges, "[gauges]")
    assert not problems, "\n".join(problems[:30])
    day = reader.window(CFG.window("24h"), at).rows["*"]
    assert (day["response_count"] or 0) > 30_000 and day["csat_responses"]  # really held
