"""The oracle admits what the stream admits: the per-dimension value cap (first values in
arrival order, the rest labelled other) and lateness per topic and partition (a chat is
not late because of a ticket on the same partition number of the other topic)."""

from __future__ import annotations

import asyncio
import json
import time

import redis
import redis.asyncio as aioredis

from devtools import oracle
from devtools.services import ServiceConfig
from kpi.config import KpiConfig, windows_from_text
from streams.schema import SchemaConfig, validate
from tests.agreement import diff_rows
from windows.keys import Keys
from windows.reader import WindowReader
from windows.writer import Record, WindowWriter

T0 = 1_750_000_000_000
CFG = KpiConfig(windows=windows_from_text("1h,24h"), max_dimension_values=3,
                dimension_sets=((), ("team",)), gauge_dimension_sets=((),),
                allowed_lateness_ms=1_200_000)


def doc(eid: str, typ: str, t_ms: int, cid: str, **kw: object) -> bytes:
    return json.dumps({"event_id": eid, "type": typ, "occurred_at": t_ms / 1000,
                       "conversation_id": cid, **kw}).encode()


def write(services: ServiceConfig, prefix: str,
          messages: list[tuple[str, int, bytes]]) -> None:
    async def go() -> None:
        client = aioredis.Redis.from_url(services.redis_url)
        writer = WindowWriter(client, Keys(prefix), CFG, time.time)
        for i, (topic, partition, raw) in enumerate(messages):
            event = validate(raw, SchemaConfig(), lambda: 2**62)
            await writer.apply(topic, partition, [Record(i, event=event)])
        await client.aclose()

    asyncio.run(go())


def agree(services: ServiceConfig, prefix: str, messages: list[tuple[str, int, bytes]],
          at: int) -> oracle.Evaluation:
    accepted = oracle.accept(messages, CFG)
    ev = oracle.evaluate(accepted, CFG, at)
    reader = WindowReader(redis.Redis.from_url(services.redis_url), Keys(prefix), CFG)
    for w in CFG.windows:
        problems = diff_rows(reader.window(w, at).rows, ev.windows[w.name], f"[{w.name}]")
        assert not problems, "\n".join(problems[:20])
    late = sum(v for k, v in reader.stats().counters.items() if k.startswith("late:"))
    assert late == accepted.late
    return ev


def test_teams_past_the_cap_are_other_in_both(services: ServiceConfig, ns: str) -> None:
    messages = []
    for i in range(8):  # eight teams, three admitted
        cid, t = f"c{i}", T0 + i * 60_000
        messages += [("tickets", 0, doc(f"{cid}-1", "ticket.created", t, cid, team=f"team{i}",
                                        queue="billing")),
                     ("tickets", 0, doc(f"{cid}-2", "ticket.message", t + 30_000, cid,
                                        actor="agent")),
                     ("tickets", 0, doc(f"{cid}-3", "ticket.solved", t + 40_000, cid))]
    write(services, ns, messages)
    ev = agree(services, ns, messages, T0 + 3_600_000)
    rows = ev.windows["1h"]
    assert set(rows) == {"*", "team=team0", "team=team1", "team=team2", "team=other"}
    assert rows["team=other"]["completed"] == 5


def test_lateness_is_per_topic_and_partition(services: ServiceConfig, ns: str) -> None:
    late_ticket = T0 + 3 * 3_600_000
    messages = [
        ("tickets", 0, doc("t-1", "ticket.created", late_ticket, "t", queue="billing")),
        # three hours older than the ticket, on partition 0 of the other topic: not late
        ("chats", 0, doc("c-1", "chat.started", T0, "c", queue="billing")),
        ("chats", 0, doc("c-2", "chat.message", T0 + 30_000, "c", actor="agent")),
        # two hours older than the ticket on its own topic partition: late
        ("tickets", 0, doc("u-1", "ticket.created", late_ticket - 7_200_000, "u")),
    ]
    write(services, ns, messages)
    ev = agree(services, ns, messages, T0 + 3_600_000)
    assert ev.windows["1h"]["*"]["frt_count"] == 1
    assert oracle.accept(messages, CFG).late == 1
