"""The atomic batch apply against a real redis-server."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
import redis
import redis.asyncio as aioredis

from devtools.services import ServiceConfig
from kpi.config import KpiConfig, windows_from_text
from kpi.conversation import contributions
from kpi.events import Event
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
                        time.time)


def read_all(services: ServiceConfig, ns: str) -> dict[str, dict[str, int]]:
    reader = WindowReader(redis.Redis.from_url(services.redis_url), Keys(ns), CFG)
    return reader.raw_window(CFG.window("1h"), T0 + 600_000)[0]


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
    assert fields["done_n"] == 1 and fields["csat_pos"] == 1
    assert "frt_n" not in fields  # a duration's count is the sum of its bins
    assert sum(n for f, n in fields.items() if f.startswith("frt_h:")) == 1
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
        for (_, metric), n in contributions(evs, CFG).items.items():
            expected[f"*|{metric}"] += n
    got = {f"*|{m}": v for m, v in read_all(services, ns)["*"].items() if v}
    assert got == {k: v for k, v in expected.items() if v}


def test_dimension_cap_sends_new_values_to_other(services: ServiceConfig, ns: str) -> None:
    cfg = KpiConfig(windows=windows_from_text("1h"), max_dimension_values=2)

    def created(cid: str, queue: str, t: float) -> Event:
        return Event(event_id=f"{cid}-1", type="ticket.created", t_ms=T0 + int(t * 1000),
                     conversation_id=cid, queue=queue, channel="email")

    async def go() -> None:
        w = WindowWriter(aioredis.Redis.from_url(services.redis_url), Keys(ns), cfg, time.time)
        await w.apply("tickets", 0, [Record(0, event=created("a", "billing", 0)),
                                     Record(1, event=created("b", "sales", 1)),
                                     Record(2, event=created("c", "legal", 2)),
                                     Record(3, event=created("d", "hr", 3)),
                                     Record(4, event=created("e", "billing", 4))])

    run(go())
    reader = WindowReader(redis.Redis.from_url(services.redis_url), Keys(ns), cfg)
    rows = reader.raw_window(cfg.window("1h"), T0 + 60_000)[0]
    queues = {k: v["vol_created"] for k, v in rows.items()
              if k.startswith("queue=") and "," not in k}
    assert queues == {"queue=billing": 2, "queue=sales": 1, "queue=other": 2}
    # all four are stored under their own label (the store's guard is 10 x the cap); the
    # two that began first are shown, the others read as other
    assert reader.stats().counters.get("overflow:queue", 0) == 0


@pytest.mark.parametrize("order", ["partition 0 first", "partition 1 first", "interleaved"])
def test_which_values_get_a_row_is_a_function_of_the_events(
        services: ServiceConfig, ns: str, order: str) -> None:
    """83 queues against a cap of 50, their conversations on two partitions applied in
    different orders (as concurrent partitions are): the 50 queues whose first
    conversation began earliest get their own rows every time, the rest are other, and
    the oracle agrees. Before, the first 50 values to reach the store won: 2-10 rows
    changed between replays of the same input."""
    from devtools.oracle import accept

    cfg = KpiConfig(windows=windows_from_text("1h"), max_dimension_values=50)
    events = [Event(event_id=f"c{i}-1", type="ticket.created", t_ms=T0 + i * 1000,
                    conversation_id=f"c{i}", queue=f"q{i:02d}", channel="email")
              for i in range(83)]
    parts = {p: [Record(n, event=e) for n, e in enumerate(events[p::2])] for p in (0, 1)}
    batches = [(p, parts[p][s:s + 5]) for p in (0, 1) for s in range(0, 42, 5)
               if parts[p][s:s + 5]]
    if order == "partition 1 first":
        batches.sort(key=lambda b: -b[0])
    elif order == "interleaved":
        batches.sort(key=lambda b: (b[1][0].offset, b[0]))

    async def go() -> None:
        w = WindowWriter(aioredis.Redis.from_url(services.redis_url), Keys(ns), cfg, time.time)
        for p, recs in batches:
            await w.apply("tickets", p, recs)

    run(go())
    reader = WindowReader(redis.Redis.from_url(services.redis_url), Keys(ns), cfg)
    rows = reader.raw_window(cfg.window("1h"), T0 + 600_000)[0]
    shown = {k for k in rows if k.startswith("queue=") and "," not in k}
    assert shown == {f"queue=q{i:02d}" for i in range(50)} | {"queue=other"}
    assert rows["queue=other"]["vol_created"] == 33
    import orjson

    arrival = [("tickets", p, orjson.dumps({
        "event_id": r.event.event_id, "type": "ticket.created",
        "occurred_at": r.event.t_ms / 1000, "conversation_id": r.event.conversation_id,
        "queue": r.event.queue, "channel": "email"})) for p, recs in batches for r in recs
        if r.event is not None]
    assert accept(arrival, cfg).admitted["queue"] == {f"q{i:02d}" for i in range(50)}


def test_expired_conversations_leave_the_live_gauges(services: ServiceConfig, ns: str) -> None:
    """A conversation silent past the conversation TTL loses its state; its place in the
    open count and the waiting sets goes with it (no leak), and if it speaks again it is
    counted once, as new."""
    cfg = KpiConfig(windows=windows_from_text("1h"), conversation_ttl_ms=1_000,
                    gauge_dimension_sets=((), ("queue",)))
    now = [1000.0]

    def created(cid: str, n: int) -> Event:
        return Event(event_id=f"{cid}-{n}", type="ticket.created", t_ms=T0 + n,
                     conversation_id=cid, queue="billing", channel="email")

    client = redis.Redis.from_url(services.redis_url)
    reader = WindowReader(client, Keys(ns), cfg)

    async def go() -> None:
        w = WindowWriter(aioredis.Redis.from_url(services.redis_url), Keys(ns), cfg,
                         lambda: now[0])
        await w.apply("tickets", 0, [Record(0, event=created("a", 0)),
                                     Record(1, event=created("b", 1))])
        assert reader.gauges(T0)["*"]["open"] == 2
        assert reader.gauges(T0)["queue=billing"]["waiting"] == 2
        time.sleep(1.3)  # both states expire in Redis (PEXPIRE 1 s)
        now[0] += 3.0  # the writer's clock agrees they are past the TTL
        assert client.exists(Keys(ns).of("tickets:0").conversation("a")) == 0
        # "a" speaks again; "b" stays silent and is undone by the same batch
        await w.apply("tickets", 0, [Record(2, event=created("a", 2)),
                                     Record(3, event=created("c", 3))])

    run(go())
    g = reader.gauges(T0)
    assert g["*"]["open"] == 2 and g["*"]["waiting"] == 2  # a (again) and c; not b
    assert g["queue=billing"]["open"] == 2 and g["queue=billing"]["waiting"] == 2
    members = {m.decode() for m in client.zrange(Keys(ns).of("tickets:0").waiting("*"), 0, -1)}
    assert members == {"a", "c"}
    assert {m.decode() for m in client.zrange(Keys(ns).of("tickets:0").live, 0, -1)} == {"a", "c"}
    assert set(client.hkeys(Keys(ns).of("tickets:0").live_dims)) == {b"a", b"c"}


def test_flushed_store_is_never_written_from_zero(services: ServiceConfig, ns: str) -> None:
    """After the store's keys vanish (FLUSHALL, a restart without persistence), the next
    batch is refused with StoreReset instead of counting from zero on an empty Redis."""
    import pytest

    from windows.errors import StoreReset

    client = redis.Redis.from_url(services.redis_url)

    async def go() -> None:
        w = await _writer(services, ns)
        await w.apply("tickets", 0, [Record(0, event=SCRIPT[0])])
        opened = await w.open_store([("tickets", 0)])
        assert not opened.created and opened.last_offsets == [0]
        for pattern in Keys(ns).partition_patterns:
            for key in client.scan_iter(match=pattern):
                client.delete(key)
        with pytest.raises(StoreReset):
            await w.apply("tickets", 0, [Record(1, event=SCRIPT[1])])
        assert not client.exists(Keys(ns).of("tickets:0").offsets)  # nothing was written
        reopened = await w.open_store([("tickets", 0)])  # what a restarted worker does
        assert reopened.created and reopened.epoch != opened.epoch
        assert reopened.last_offsets == [None]
        await w.apply("tickets", 0, [Record(0, event=SCRIPT[0]), Record(1, event=SCRIPT[1])])

    run(go())
    assert read_all(services, ns)["*"]["vol_created"] == 1


def _delete(client: redis.Redis, pattern: str) -> None:
    for key in client.scan_iter(match=pattern):
        client.delete(key)


def test_a_partition_whose_slot_lost_its_data_is_rebuilt(services: ServiceConfig,
                                                         ns: str) -> None:
    """In a cluster one node can lose its data while the others keep theirs: the
    partition whose slot lost its epoch copy is refused, named as lost at the next opening
    and starts empty (to be re-applied from Kafka); the other partitions keep theirs."""
    import pytest

    from windows.errors import StoreReset

    client = redis.Redis.from_url(services.redis_url)
    other = [ev("9", "ticket.created", 0, cid="c9")]

    async def go() -> None:
        w = await _writer(services, ns)
        await w.apply("tickets", 0, [Record(i, event=e) for i, e in enumerate(SCRIPT)])
        await w.apply("tickets", 1, [Record(0, event=other[0])])
        _delete(client, Keys(ns).of("tickets:1").tag + ":*")  # that node was flushed
        with pytest.raises(StoreReset, match="tickets:1"):
            await w.check_epoch()
        with pytest.raises(StoreReset):
            await w.apply("tickets", 1, [Record(1, event=ev("10", "ticket.solved", 9,
                                                            cid="c9"))])
        fresh = await _writer(services, ns)  # the restarted worker
        opened = await fresh.open_store([("tickets", 0), ("tickets", 1)])
        assert not opened.created and opened.lost == ("tickets:1",)
        assert opened.last_offsets == [3, None]
        await fresh.apply("tickets", 1, [Record(0, event=other[0])])  # re-applied

    run(go())
    assert read_all(services, ns)["*"]["vol_created"] == 2


def test_leftovers_of_a_lost_store_are_deleted_before_the_rebuild(
        services: ServiceConfig, ns: str) -> None:
    """The shared slot (the epoch) lost, a partition's slot kept: its data belongs to the
    old epoch, and is deleted before the partition is re-applied, so nothing counts twice."""
    client = redis.Redis.from_url(services.redis_url)

    async def go() -> None:
        w = await _writer(services, ns)
        await w.apply("tickets", 0, [Record(i, event=e) for i, e in enumerate(SCRIPT)])
        _delete(client, Keys(ns).shared_tag + ":*")
        fresh = await _writer(services, ns)
        opened = await fresh.open_store([("tickets", 0)])
        assert opened.created and opened.last_offsets == [None]
        assert not client.exists(Keys(ns).of("tickets:0").conversation("c1"))
        await fresh.apply("tickets", 0, [Record(i, event=e) for i, e in enumerate(SCRIPT)])

    run(go())
    assert read_all(services, ns)["*"]["vol_created"] == 1


def test_breaching_and_at_risk_count_waiting_conversations_by_their_deadline(
        services: ServiceConfig, ns: str) -> None:
    """Target 1 h, horizons 5 and 15 min: at T0+50m a ticket created at T0 is due in 10
    minutes (at risk within 15m, not 5m), one created at T0-6m in 4 (within both), one
    created at T0+40m in 50 (neither), one created at T0-20m is past its target
    (breaching), and an answered one is none of them."""
    cfg = KpiConfig(windows=windows_from_text("1h"), frt_sla_ms=3_600_000,
                    at_risk_ms=(300_000, 900_000), gauge_dimension_sets=((),),
                    allowed_lateness_ms=7_200_000)

    def created(cid: str, minute: int) -> Event:
        return Event(event_id=f"{cid}-1", type="ticket.created", t_ms=T0 + minute * 60_000,
                     conversation_id=cid, queue="billing", channel="email")

    answered = Event(event_id="d-2", type="ticket.message", t_ms=T0 + 5 * 60_000,
                     conversation_id="d", actor="agent")

    async def go() -> None:
        w = WindowWriter(aioredis.Redis.from_url(services.redis_url), Keys(ns), cfg,
                         time.time)
        await w.apply("tickets", 0, [Record(0, event=created("early", -20)),
                                     Record(1, event=created("a", 0)),
                                     Record(2, event=created("b", 40)),
                                     Record(3, event=created("d", 1)),
                                     Record(4, event=answered),
                                     Record(5, event=created("c", -6))])

    run(go())
    g = WindowReader(redis.Redis.from_url(services.redis_url), Keys(ns), cfg).gauges(
        T0 + 50 * 60_000)["*"]
    assert (g["waiting"], g["breaching"], g["at_risk"]) == (4, 1, 2)
    assert (g["at_risk_within_5m"], g["at_risk_within_15m"]) == (1, 2)
    assert g["oldest_waiting_seconds"] == 70 * 60


def test_oldest_waiting_in_business_hours_follows_the_queue_calendar(
        services: ServiceConfig, ns: str) -> None:
    """Billing opens 09:00-17:00 UTC on weekdays. A ticket created Friday 2026-01-09 16:00
    still waits on Monday 10:00: 66 hours by the clock, 2 business hours (Friday 16-17,
    Monday 9-10). Sales has no calendar: no business-hours gauge; nor has the floor row,
    which mixes queues."""
    import dataclasses

    from kpi.calendars import parse_calendars

    cals = parse_calendars("""
calendars:
  office: {timezone: UTC, hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"],
           wed: ["09:00-17:00"], thu: ["09:00-17:00"], fri: ["09:00-17:00"]}}
queues: {billing: office}
""")
    friday = 1_767_974_400_000  # 2026-01-09 16:00 UTC
    cfg = dataclasses.replace(
        KpiConfig(windows=windows_from_text("1h"), gauge_dimension_sets=((), ("queue",)),
                  allowed_lateness_ms=7 * 86_400_000), calendars=cals)

    def created(cid: str, queue: str) -> Event:
        return Event(event_id=f"{cid}-1", type="ticket.created", t_ms=friday,
                     conversation_id=cid, queue=queue, channel="email")

    async def go() -> None:
        w = WindowWriter(aioredis.Redis.from_url(services.redis_url), Keys(ns), cfg,
                         time.time)
        await w.apply("tickets", 0, [Record(0, event=created("b", "billing")),
                                     Record(1, event=created("s", "sales"))])

    run(go())
    monday = friday + 66 * 3_600_000  # 2026-01-12 10:00 UTC
    g = WindowReader(redis.Redis.from_url(services.redis_url), Keys(ns), cfg).gauges(monday)
    assert g["queue=billing"]["oldest_waiting_seconds"] == 66 * 3600
    assert g["queue=billing"]["oldest_waiting_business_seconds"] == 2 * 3600
    assert "oldest_waiting_business_seconds" not in g["queue=sales"]
    assert "oldest_waiting_business_seconds" not in g["*"]


def test_a_replay_ages_waiting_conversations_to_the_input_furthest_behind(
        services: ServiceConfig, ns: str) -> None:
    """Played at 240x, a partition the worker reaches 5 s after another is 20 simulated
    minutes behind it: a ticket whose reply is in that partition's backlog waits until the
    partition's own clock, not the leading one's (the demo paged its own floor otherwise)."""
    cfg = KpiConfig(windows=windows_from_text("1h"), gauge_dimension_sets=((),))
    now = time.time()

    def created(cid: str, at_s: float) -> Event:
        return Event(event_id=f"{cid}-new", type="ticket.created", t_ms=T0 + int(at_s * 1000),
                     conversation_id=cid, queue="billing", channel="email")

    async def go() -> None:
        w = WindowWriter(aioredis.Redis.from_url(services.redis_url), Keys(ns), cfg,
                         lambda: now)
        await w.apply("tickets", 0, [Record(0, event=created("behind", 0))])
        await w.apply("tickets", 1, [Record(0, event=created("ahead", 1200))])

    run(go())
    client = redis.Redis.from_url(services.redis_url)
    reader = WindowReader(client, Keys(ns), cfg, lambda: now + 1.0, event_windows=True)
    t = reader.read_time()
    assert t.event_ms == T0 + 1_200_000 + 1_000  # the leading input's clock
    assert t.live_ms == T0 + 1_000  # the input furthest behind
    # the wall reads the clock with the stats it already has: the same clock
    assert reader.read_time(reader.stats()).live_ms == T0 + 1_000
    assert reader.gauges(t.live_ms)["*"]["oldest_waiting_seconds"] == 1.0
    # once tickets:0 has been idle for ACTIVE_INPUT_MS it no longer holds the clock back
    idle = WindowReader(client, Keys(ns), cfg, lambda: now + 11.0, event_windows=True)
    assert idle.read_time().live_ms == T0 + 1_200_000 + 11_000


def test_batches_of_several_partitions_at_once_on_a_new_writer(services: ServiceConfig,
                                                                ns: str) -> None:
    """The worker applies a take's partitions concurrently (streams.app): a writer's first
    reads, which also fetch the admitted label values once per epoch, interleave."""
    async def go() -> list[int]:
        w = await _writer(services, ns)
        results = await asyncio.gather(*(
            w.apply("tickets", p, [Record(i, event=ev(f"{p}-{i}", e.type, i,
                                                      cid=f"c{p}", actor=e.actor,
                                                      score=e.score))
                                   for i, e in enumerate(SCRIPT)])
            for p in range(4)))
        return [r.applied for r in results]

    assert run(go()) == [4, 4, 4, 4]
    fields = read_all(services, ns)["queue=billing"]
    assert (fields["done_n"], fields["csat_pos"], fields["fcr_n"]) == (4, 4, 4)


def test_a_store_of_an_earlier_layout_is_rebuilt_not_read(services: ServiceConfig,
                                                          ns: str) -> None:
    """Conversation states were hashes before layout 2: a store whose epoch does not name
    the layout is started afresh (its partitions rebuilt from the replay point), never read
    with the new commands (WRONGTYPE) nor counted on."""
    from windows.writer import LAYOUT

    client = redis.Redis.from_url(services.redis_url)
    keys = Keys(ns)
    client.set(keys.epoch, "1700000000-0ldepoch")
    client.set(keys.of("tickets:0").epoch, "1700000000-0ldepoch")
    client.hset(keys.partitions, "tickets:0", "1700000000-0ldepoch")
    client.hset(keys.of("tickets:0").offsets, "tickets:0", 41)
    client.hset(keys.of("tickets:0").conversation("T1"), mapping={"v": 1, "s": "{}"})

    async def go() -> None:
        w = await _writer(services, ns)
        opened = await w.open_store([("tickets", 0)])
        assert opened.created and opened.epoch.startswith(LAYOUT)
        assert opened.last_offsets == [None]  # rebuilt from the replay point
        assert not client.exists(keys.of("tickets:0").conversation("T1"))  # leftovers gone
        await w.apply("tickets", 0, [Record(0, event=SCRIPT[0])])

    run(go())
    assert read_all(services, ns)["*"]["vol_created"] == 1
