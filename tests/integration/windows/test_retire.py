"""Finer buckets leave the store once no window reads them at the partition's clock
(issue 37: a backfill kept a whole day of 5-s and 1-min buckets for their TTL, 6.6x the
steady state), against a real redis-server."""

from __future__ import annotations

import asyncio
import time

import redis
import redis.asyncio as aioredis

from devtools.services import ServiceConfig
from kpi.config import KpiConfig, windows_from_text
from kpi.events import Event
from windows.keys import Keys
from windows.reader import WindowReader
from windows.writer import Record, WindowWriter

CFG = KpiConfig(windows=windows_from_text("5m,1h,24h"))
T0 = 1_700_000_000_000  # 2023: a backfill, far behind the writer's wall clock
HOUR = 3_600_000
SECOND, MINUTE, COARSE = 5_000, 60_000, 1_440_000  # the three bucket sizes of CFG


def ev(eid: str, typ: str, t_ms: int, cid: str) -> Event:
    return Event(event_id=eid, type=typ, t_ms=t_ms, conversation_id=cid, queue="billing",
                 channel="email")


def bucket(k: Keys, res: int, t_ms: int) -> str:
    return k.bucket(res, t_ms - t_ms % res)


def test_a_backfill_retires_the_finer_buckets_its_clock_has_passed(
        services: ServiceConfig, ns: str) -> None:
    margin = CFG.bucket_ttl_margin_ms
    early, late = T0, T0 + 2 * HOUR
    history = [ev("1", "ticket.created", early, "c1"),
               ev("2", "ticket.solved", early + 20_000, "c1"),
               ev("3", "ticket.created", late, "c2"),
               ev("4", "ticket.solved", late + 20_000, "c2")]

    async def go() -> None:
        w = WindowWriter(aioredis.Redis.from_url(services.redis_url), Keys(ns), CFG, time.time)
        # in order, as a backfill is: each batch's buckets are current when written
        await w.apply("tickets", 0, [Record(0, event=history[0]), Record(1, event=history[1])])
        await w.apply("tickets", 0, [Record(2, event=history[2]), Record(3, event=history[3])])

    asyncio.run(go())
    r = redis.Redis.from_url(services.redis_url)
    k = Keys(ns).of("tickets:0")
    # the early hour's 5-s and 1-min buckets: read by no window at the clock (2 h later),
    # kept only for the margin (query --at right after a backfill)
    for res in (SECOND, MINUTE):
        key = bucket(k, res, early)
        assert r.exists(key), key
        assert 0 < r.pttl(key) <= margin
    # the coarsest size keeps its TTL from the write (the replayed past stays readable)
    assert r.pttl(bucket(k, COARSE, early)) > CFG.bucket_ttl_ms(COARSE) - 60_000
    # the current buckets keep their whole TTL
    for res in (SECOND, MINUTE):
        assert r.pttl(bucket(k, res, late)) > margin
    # what the windows read at the clock is unchanged: the 24h window both conversations,
    # the 5m window the current one
    reader = WindowReader(r, Keys(ns), CFG)
    now = late + 60_000
    day = reader.raw_window(CFG.window("24h"), now)[0]["queue=billing"]
    five = reader.raw_window(CFG.window("5m"), now)[0]["queue=billing"]
    assert (day["done_n"], five["done_n"]) == (2, 1)


def test_a_live_clock_retires_a_bucket_when_its_longest_window_has_passed(
        services: ServiceConfig, ns: str) -> None:
    """The same rule on a live floor: a 5-s bucket leaves when the clock is past its 5m
    window, not before (a bucket the 5m window still reads keeps its TTL)."""
    start = T0

    async def go(records: list[Record]) -> None:
        w = WindowWriter(aioredis.Redis.from_url(services.redis_url), Keys(ns), CFG, time.time)
        await w.apply("tickets", 0, records)

    asyncio.run(go([Record(0, event=ev("1", "ticket.created", start, "c1"))]))
    r = redis.Redis.from_url(services.redis_url)
    k = Keys(ns).of("tickets:0")
    key = bucket(k, SECOND, start)
    edge = (start - start % SECOND) + (CFG.retire_after_ms(SECOND) or 0)  # 5 s + 5 min on
    asyncio.run(go([Record(1, event=ev("2", "ticket.created", edge - 1, "c2"))]))
    assert r.pttl(key) > CFG.bucket_ttl_margin_ms  # the 5m window at edge - 1 reads it
    asyncio.run(go([Record(2, event=ev("3", "ticket.created", edge, "c3"))]))
    assert 0 < r.pttl(key) <= CFG.bucket_ttl_margin_ms


def test_a_late_event_into_a_passed_bucket_does_not_give_it_back_its_ttl(
        services: ServiceConfig, ns: str) -> None:
    """An event within the allowed lateness but behind every window (a 5-s bucket 10 min
    behind the clock) is counted, and its bucket lives only the margin."""
    clock = T0 + HOUR

    async def go() -> None:
        w = WindowWriter(aioredis.Redis.from_url(services.redis_url), Keys(ns), CFG, time.time)
        await w.apply("tickets", 0, [Record(0, event=ev("1", "ticket.created", clock, "c1"))])
        await w.apply("tickets", 0, [Record(1, event=ev("2", "ticket.created",
                                                        clock - 600_000, "c2"))])

    asyncio.run(go())
    r = redis.Redis.from_url(services.redis_url)
    k = Keys(ns).of("tickets:0")
    late = bucket(k, SECOND, clock - 600_000)
    assert r.exists(late)
    assert 0 < r.pttl(late) <= CFG.bucket_ttl_margin_ms
    assert r.pttl(bucket(k, MINUTE, clock - 600_000)) > CFG.bucket_ttl_margin_ms  # 1h reads it
