"""The atomic batch apply against a real redis-server."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import redis
import redis.asyncio as aioredis

from supportkpi.services import ServiceConfig
from windows import kpi
from windows.config import KpiConfig, windows_from_text
from windows.events import Event
from windows.keys import Keys
from windows.reader import WindowReader
from windows.writer import Record, WindowWriter

CFG = KpiConfig(windows=windows_from_text("5m,1h"), allowed_lateness_ms=60_000)
T0 = 1_700_000_000_000


def ev(eid: str, typ: str, t_s: float, cid: str = "c1", **kw: object) -> Event:
    return Event(event_id=eid, type=typ, t_ms=T0 + int(t_s * 1000), conversation_id=cid,
                 queue="billing", channel="email", **kw)  # type: ignore[arg-type]


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def _writer(services: ServiceConfig, ns: str) -> WindowWriter:
    return WindowWriter(aioredis.Redis.from_url(services.redis_url), Keys(ns), CFG,
                        time.time, epoch="test")


def read_all(services: ServiceConfig, ns: str) -> dict[str, dict[str, int]]:
    reader = WindowReader(redis.Redis.from_url(services.redis_url), Keys(ns), CFG)
    return reader.raw_window(CFG.window("1h"), T0 + 600_000)


SCRIPT = [
    ev("1", "ticket.created", 0),
    ev("2", "ticket.message", 60, actor="agent"),
    ev("3", "ticket.solved", 120),
    ev("4", "survey.csat", 130, score=5),
]


def test_redelivered_offsets_change_nothing(services: ServiceConfig, ns: str) -> None:
    async def go() -> None:
        w = await _writer(services, ns)
        recs = [Record(i, event=e) for i, e in enumerate(SCRIPT)]
        r1 = await w.apply("tickets", 0, recs)
        assert r1.applied == 4
        before = read_all(services, ns)
        r2 = await w.apply("tickets", 0, recs)  # Kafka redelivers the same offsets
        assert (r2.applied, r2.skipped_offsets) == (0, 4)
        assert read_all(services, ns) == before
        assert await w.last_offset("tickets", 0) == 3
        # a partial redelivery: 2..5 where 4,5 are new
        r3 = await w.apply("tickets", 0, [Record(2, event=SCRIPT[2]), Record(3, event=SCRIPT[3]),
                                          Record(4, event=ev("5", "ticket.reopened", 200)),
                                          Record(5, reason="not_json")])
        assert (r3.applied, r3.skipped_offsets, r3.rejected) == (1, 2, 1)
        assert await w.last_offset("tickets", 0) == 5

    run(go())
    fields = read_all(services, ns)["queue=billing"]
    assert fields["fcr_n"] == 0  # retracted by the reopen at offset 4
    assert fields["done_n"] == 1 and fields["frt_n"] == 1 and fields["csat_pos"] == 1
    stats = WindowReader(redis.Redis.from_url(services.redis_url), Keys(ns), CFG).stats()
    assert stats.counters["processed:tickets"] == 5
    assert stats.counters["rejected:not_json"] == 1


def test_upstream_duplicates_are_skipped_by_event_id(services: ServiceConfig, ns: str) -> None:
    async def go() -> None:
        w = await _writer(services, ns)
        recs = [Record(i, event=e) for i, e in enumerate(SCRIPT + SCRIPT)]
        r = await w.apply("tickets", 0, recs)
        assert (r.applied, r.duplicates) == (4, 4)

    run(go())
    assert read_all(services, ns)["*"]["csat_n"] == 1


def test_late_events_are_counted_not_applied(services: ServiceConfig, ns: str) -> None:
    async def go() -> None:
        w = await _writer(services, ns)
        r = await w.apply("tickets", 0, [
            Record(0, event=ev("1", "ticket.created", 1000)),
            Record(1, event=ev("2", "ticket.created", 1000 - 61, cid="c2")),  # 61 s behind
            Record(2, event=ev("3", "ticket.created", 1000 - 59, cid="c3")),  # within lateness
        ])
        assert (r.applied, r.late) == (2, 1)

    run(go())
    stats = WindowReader(redis.Redis.from_url(services.redis_url), Keys(ns), CFG).stats()
    assert stats.counters["late:ticket.created"] == 1


def test_concurrent_writers_equal_sequential(services: ServiceConfig, ns: str) -> None:
    """Two writers racing on the same conversations (e.g. a survey on the other topic)."""
    convs = [f"c{i}" for i in range(5)]
    events = []
    for i, cid in enumerate(convs):
        events += [ev(f"{cid}-1", "ticket.created", i, cid), ev(f"{cid}-2", "ticket.message",
                   i + 30, cid, actor="agent"), ev(f"{cid}-3", "ticket.solved", i + 90, cid)]
    events.sort(key=Event.sort_key)  # in time order: nothing here is late
    surveys = [ev(f"{cid}-s", "survey.csat", 100 + i, cid, score=4) for i, cid in
               enumerate(convs)]

    async def go() -> None:
        a = await _writer(services, ns)
        b = await _writer(services, ns)

        async def feed(w: WindowWriter, topic: str, evs: list[Event]) -> None:
            # one partition's batches are sequential, as in Kafka; the two topics race
            for k, e in enumerate(evs):
                await w.apply(topic, 0, [Record(k, event=e)])

        await asyncio.gather(feed(a, "tickets", events), feed(b, "chats", surveys))

    run(go())
    expected: Counter[str] = Counter()
    for cid in convs:
        evs = [e for e in events + surveys if e.conversation_id == cid]
        for (_, metric), n in kpi.contributions(evs, CFG).items.items():
            expected[f"*|{metric}"] += n
    got = {f"*|{m}": v for m, v in read_all(services, ns)["*"].items() if v}
    assert got == {k: v for k, v in expected.items() if v}


def test_dimension_cap_sends_new_values_to_other(services: ServiceConfig, ns: str) -> None:
    cfg = KpiConfig(windows=windows_from_text("1h"), max_dimension_values=2)

    def created(cid: str, queue: str, t: float) -> Event:
        return Event(event_id=f"{cid}-1", type="ticket.created", t_ms=T0 + int(t * 1000),
                     conversation_id=cid, queue=queue, channel="email")

    async def go() -> None:
        w = WindowWriter(aioredis.Redis.from_url(services.redis_url), Keys(ns), cfg, time.time,
                         epoch="test")
        await w.apply("tickets", 0, [Record(0, event=created("a", "billing", 0)),
                                     Record(1, event=created("b", "sales", 1)),
                                     Record(2, event=created("c", "legal", 2)),
                                     Record(3, event=created("d", "hr", 3)),
                                     Record(4, event=created("e", "billing", 4))])

    run(go())
    reader = WindowReader(redis.Redis.from_url(services.redis_url), Keys(ns), cfg)
    rows = reader.raw_window(cfg.window("1h"), T0 + 60_000)
    queues = {k: v["vol_created"] for k, v in rows.items()
              if k.startswith("queue=") and "," not in k}
    assert queues == {"queue=billing": 2, "queue=sales": 1, "queue=other": 2}
    assert reader.stats().counters["overflow:queue"] == 2
