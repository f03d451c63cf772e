"""The customer path's writer against a real redis-server: a customer this writer wrote
last is not read again (windows.customers.Known), and that shortcut never changes a
count when another writer moved the customer meanwhile (a partition handed over and
back), nor when its key expired."""

from __future__ import annotations

import asyncio
import time

import redis
import redis.asyncio as aioredis

from devtools.services import ServiceConfig
from kpi.config import KpiConfig, windows_from_text
from kpi.customers import Contact
from windows.customers import ContactRecord, CustomerWriter
from windows.keys import Keys
from windows.reader import WindowReader

CFG = KpiConfig(windows=windows_from_text("1h"), allowed_lateness_ms=60_000,
                repeat_window_ms=3_600_000)
T0 = 1_700_000_000_000
X = "ab" * 16  # a customer hash
TOPIC = "customers"


def contact(cid: str, start_s: int, done_s: int | None, channel: str = "email") -> Contact:
    return Contact(cid, T0 + start_s * 1000, channel, None if done_s is None
                   else T0 + done_s * 1000, done_s is not None, "*|", (T0 + start_s * 1000, 2))


# one customer, three conversations: each of the first two is repeated by the next
STORY = [contact("c1", 0, 60), contact("c2", 120, 180, "chat"), contact("c3", 240, None)]


def writer(services: ServiceConfig, ns: str) -> CustomerWriter:
    return CustomerWriter(aioredis.Redis.from_url(services.redis_url), Keys(ns), CFG, time.time)


def floor(services: ServiceConfig, ns: str) -> dict[str, int]:
    reader = WindowReader(redis.Redis.from_url(services.redis_url), Keys(ns), CFG)
    row = reader.raw_window(CFG.window("1h"), T0 + 600_000)[0].get("*", {})
    return {f: n for f, n in row.items() if n}


async def feed(w: CustomerWriter, offset: int, c: Contact) -> None:
    r = await w.apply(TOPIC, 0, [ContactRecord(offset, X, c)])
    assert r.applied == 1


# worked from docs/kpis.md "Customers": c1 and c2 completed, each followed by another
# contact within the hour on another channel (email, chat, email), c1 opened the only episode of
# three contacts; both a human replied to, neither resolved for the customer
WANT = {"rep_d": 2, "rep_n": 2, "rep_sw": 2, "cfcr_d": 2, "cpc_n": 1, "cpc_sm": 3000}


def test_a_partition_handed_over_and_back_counts_each_contact_once(
        services: ServiceConfig, ns: str) -> None:
    async def go() -> None:
        a, b = writer(services, ns), writer(services, ns)
        for w in (a, b):
            await w.open_store([(TOPIC, 0)])
        await feed(a, 0, STORY[0])
        await feed(b, 1, STORY[1])  # the partition moved to b, which reads X afresh
        await feed(a, 2, STORY[2])  # and back: a's kept X is stale, the script says so
        assert a._known[X].version == "3"

    asyncio.run(go())
    assert floor(services, ns) == WANT


def test_a_kept_customer_whose_key_expired_is_read_again(services: ServiceConfig,
                                                         ns: str) -> None:
    client = redis.Redis.from_url(services.redis_url)

    async def go() -> None:
        a = writer(services, ns)
        await a.open_store([(TOPIC, 0)])
        await feed(a, 0, STORY[0])
        await feed(a, 1, STORY[1])
        key = Keys(ns).of(Keys.partition_field(TOPIC, 0)).customer(X)
        assert client.delete(key) == 1  # expired: its two contacts are gone from the store
        await feed(a, 2, STORY[2])

    asyncio.run(go())
    # only c3 is known after the expiry: the buckets keep what c1 and c2 placed, and
    # c3 (which is not completed) adds its own episode and nothing retracts
    assert floor(services, ns) == {"rep_d": 2, "rep_n": 1, "rep_sw": 1, "cfcr_d": 2,
                                   "cfcr_n": 1, "cpc_n": 2, "cpc_sm": 3000}
