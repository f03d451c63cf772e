"""Property: the streaming result in Redis equals the batch oracle, for every KPI, window
and dimension, on random histories with shuffles, duplicates, stragglers and partitions."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
import uuid

import redis
import redis.asyncio as aioredis
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools import oracle
from devtools.services import ServiceConfig
from kpi.calendars import parse_calendars
from kpi.config import KpiConfig
from kpi.policies import parse_policies
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
# SLA policies with targets the random histories meet and breach both (their events are
# up to 15 minutes apart), on calendar time here and on business calendars below
POLICIES = parse_policies("""
policies:
  - {name: urgent, match: {priority: urgent}, targets: {first_reply: 5m, resolution: 30m}}
  - {name: chat, match: {channel: [chat, social]}, targets: {first_reply: 2m, next_reply: 4m},
     clock: calendar}
  - {name: rest, targets: {first_reply: 10m, next_reply: 8m, resolution: 45m}}
""")
CFG = dataclasses.replace(SETTINGS.kpi_config(), policies=POLICIES)
BASE = 1_750_000_000_000
SPAN = 3 * 3_600_000


def stream_through_writer(redis_url: str, prefix: str,
                          messages: list[tuple[int, bytes, bytes]], rnd: random.Random,
                          cfg: KpiConfig = CFG) -> None:
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
        writer = WindowWriter(client, Keys(prefix), cfg, time.time)
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
            at_ms: int, cfg: KpiConfig = CFG) -> list[str]:
    accepted = oracle.accept((("in", p, v) for p, _k, v in messages), cfg)
    ev = oracle.evaluate(accepted, cfg, at_ms)
    windows, gauges = ev.windows, ev.gauges
    reader = WindowReader(redis.Redis.from_url(redis_url), Keys(prefix), cfg)
    problems = []
    for w in cfg.windows:
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


# Short split shifts, one across the hour DST skips or repeats, so conversations of a few
# hours cross many openings and closings; billing and technical on calendars in two zones,
# sales on calendar time.
BERLIN = ["00:00-00:40", "01:10-02:30", "02:45-03:20", "05:00-09:00", "11:00-11:05",
          "13:00-24:00"]
NEW_YORK = ["00:30-01:50", "02:10-04:00", "06:00-07:00", "20:00-23:30"]
DAYS = ("sat", "sun", "mon")
CALENDARS = parse_calendars(yaml.safe_dump({
    "calendars": {
        "berlin": {"timezone": "Europe/Berlin", "hours": dict.fromkeys(DAYS, BERLIN),
                   "holidays": ["2026-03-30", "2026-10-24"]},
        "new_york": {"timezone": "America/New_York", "hours": dict.fromkeys(DAYS, NEW_YORK)},
    },
    "queues": {"billing": "berlin", "technical": "new_york"},
}))
# three hours before each 2026 DST change of both zones: Berlin 29 March and 25 October at
# 01:00 UTC, New York 8 March 07:00 and 1 November 06:00 UTC
DST_BASES = tuple(t - 3 * 3_600_000 for t in (1_774_746_000_000, 1_792_890_000_000,
                                              1_772_953_200_000, 1_793_512_800_000))


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(DST_BASES), st.booleans())
def test_stream_equals_oracle_in_business_hours(services: ServiceConfig, seed: int, base: int,
                                                sla_business: bool) -> None:
    """Business-time durations, SLA waits, SLA policy targets (paused while pending) and
    deadlines (breaching, at risk): the stream's constant-offset walk and the oracle's
    minute-by-minute count agree across the DST nights of both zones, split shifts and a
    holiday."""
    cals = dataclasses.replace(CALENDARS, sla_business=sla_business)
    cfg = dataclasses.replace(CFG, calendars=cals, at_risk_ms=(900_000, 3_600_000))
    rnd = random.Random(seed)
    prefix = "b" + uuid.uuid4().hex[:10]
    messages = history(rnd, 40, base, 6 * 3_600_000, cfg.allowed_lateness_ms)
    stream_through_writer(services.redis_url, prefix, messages, rnd, cfg)
    for at in (base + 3 * 3_600_000, base + 7 * 3_600_000, base + 30 * 3_600_000):
        problems = compare(services.redis_url, prefix, messages, at, cfg)
        assert not problems, "\n".join(problems[:30])
