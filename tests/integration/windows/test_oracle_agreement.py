"""Property: the streaming result in Redis equals the batch oracle, for every KPI, window
and dimension, on random histories with shuffles, duplicates, stragglers and partitions."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import redis
import redis.asyncio as aioredis
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools import oracle
from devtools.services import ServiceConfig
from streams.errors import InvalidEvent
from streams.schema import SchemaConfig, validate
from supportkpi.settings import load_settings
from tests.agreement import diff_rows
from tests.histories import history
from windows.keys import Keys
from windows.reader import WindowReader
from windows.writer import Record, WindowWriter

SETTINGS = load_settings(
    dimensions="all,queue,channel,queue*channel,team,priority,agent",
    agent_allowlist="a1,a2",
    frt_sla_targets="urgent=5m,chat=2m,high:email=10m",
    allowed_lateness="20m",
)
CFG = SETTINGS.kpi_config()
BASE = 1_750_000_000_000
SPAN = 3 * 3_600_000


def stream_through_writer(redis_url: str, prefix: str,
                          messages: list[tuple[int, bytes, bytes]], rnd: random.Random) -> None:
    """Feed each partition in arrival order, in random batch sizes, partitions interleaved."""
    schema = SchemaConfig()
    per_part: dict[int, list[Record]] = {}
    for p, _key, value in messages:
        recs = per_part.setdefault(p, [])
        try:
            recs.append(Record(len(recs), event=validate(value, schema, lambda: 2**62)))
        except InvalidEvent as exc:
            recs.append(Record(len(recs), reason=exc.reason))

    async def go() -> None:
        client = aioredis.Redis.from_url(redis_url)
        writer = WindowWriter(client, Keys(prefix), CFG, time.time)
        cursors = dict.fromkeys(per_part, 0)
        while any(cursors[p] < len(per_part[p]) for p in per_part):
            p = rnd.choice([p for p in per_part if cursors[p] < len(per_part[p])])
            n = rnd.randint(1, 40)
            batch = per_part[p][cursors[p]:cursors[p] + n]
            cursors[p] += len(batch)
            await writer.apply("in", p, batch)
        await client.aclose()

    asyncio.run(go())


def compare(redis_url: str, prefix: str, messages: list[tuple[int, bytes, bytes]],
            at_ms: int) -> list[str]:
    accepted = oracle.accept((("in", p, v) for p, _k, v in messages), CFG)
    ev = oracle.evaluate(accepted, CFG, at_ms)
    windows, gauges = ev.windows, ev.gauges
    reader = WindowReader(redis.Redis.from_url(redis_url), Keys(prefix), CFG)
    problems = []
    for w in CFG.windows:
        problems += diff_rows(reader.window(w, at_ms).rows, windows[w.name], f"[{w.name}]")
    problems += diff_rows(reader.gauges(at_ms), gauges, "[gauges]")
    stats = reader.stats().counters
    late = sum(v for k, v in stats.items() if k.startswith("late:"))
    if late != accepted.late:
        problems.append(f"late: stream {late} oracle {accepted.late}")
    if stats.get("duplicate:event_id", 0) != accepted.duplicates:
        problems.append(f"duplicates: stream {stats.get('duplicate:event_id')} "
                        f"oracle {accepted.duplicates}")
    return problems


@given(st.integers(0, 2**32 - 1), st.integers(3, 40))
def test_stream_equals_oracle(services: ServiceConfig, seed: int, n: int) -> None:
    rnd = random.Random(seed)  # a plain seeded Random: replays are exact
    prefix = "p" + uuid.uuid4().hex[:10]
    messages = history(rnd, n, BASE, SPAN, CFG.allowed_lateness_ms)
    stream_through_writer(services.redis_url, prefix, messages, rnd)
    for at in (BASE + SPAN // 2, BASE + SPAN + 1_800_000, BASE + SPAN + 7_200_000):
        problems = compare(services.redis_url, prefix, messages, at)
        assert not problems, "\n".join(problems[:30])


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_query_at_any_time_counts_exactly_its_stated_edges(services: ServiceConfig,
                                                           seed: int) -> None:
    """A replayed history read at random millisecond times, past ones included (events
    after T are in the store): every window counts exactly the batch computation over the
    range it states, that range starts within 5 s (the finest bucket) of T − W and never
    reaches T, and a read with nothing after T ends at T itself."""
    rnd = random.Random(seed)
    prefix = "e" + uuid.uuid4().hex[:10]
    messages = history(rnd, 40, BASE, SPAN, CFG.allowed_lateness_ms)
    stream_through_writer(services.redis_url, prefix, messages, rnd)
    accepted = oracle.accept((("in", p, v) for p, _k, v in messages), CFG)
    newest = max(e.t_ms for e in accepted.events)
    reader = WindowReader(redis.Redis.from_url(services.redis_url), Keys(prefix), CFG)
    for at in [BASE + rnd.randrange(SPAN) for _ in range(6)] + [newest + 1 + rnd.randrange(9)]:
        for w in CFG.windows:
            snap = reader.window(w, at)
            assert snap.from_ms is not None and snap.to_ms is not None
            assert at - w.length_ms <= snap.from_ms < at - w.length_ms + 5_000
            assert at - 5_000 < snap.to_ms <= at
            if at > newest:
                assert snap.to_ms == at
            batch = oracle.evaluate(accepted, CFG, at,
                                    ranges={w.name: (snap.from_ms, snap.to_ms)})
            problems = diff_rows(snap.rows, batch.windows[w.name], f"[{w.name} at {at}]")
            assert not problems, "\n".join(problems[:30])
            # the oracle's own edges are the same (nothing expired in a fresh store)
            assert oracle.evaluate(accepted, CFG, at).ranges[w.name] == (snap.from_ms,
                                                                         snap.to_ms)
