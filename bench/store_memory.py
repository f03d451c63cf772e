"""Redis memory per open conversation and per bucket field, with the default settings.

A simulated floor (``--hours`` of history at ``--rate`` new conversations per minute) is
validated and applied in process through the real writer into a fresh namespace of a real
redis-server, in batches per partition as the worker applies them; then every key of the
namespace is sized with ``MEMORY USAGE`` and grouped: conversation states, the live-gauge
structures that follow each conversation (its live-set entry, its live-dims entry, its
waiting/due entries), bucket hashes, and the rest. "Per open conversation" is what a
conversation with state costs in all: its state key plus its share of the live structures.

    .venv/bin/python -m bench.store_memory --redis-url redis://127.0.0.1:6379/0

(``bench.soak`` runs it too and writes its result into docs/benchmarks.md.)
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
import zlib
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

from bench.common import drop_store, store_keys
from devtools import simulate as sim
from kpi.config import KpiConfig
from streams.schema import SchemaConfig, validate
from supportkpi.settings import load_settings
from windows.keys import Keys
from windows.writer import Record, WindowWriter

# the live structures that follow each conversation (windows/keys.py)
LIVE_KINDS = ("live", "livedims", "wait", "due")


@dataclass(frozen=True)
class StoreMemory:
    conversations: int
    state_bytes: float  # per conversation state key
    live_bytes: float  # per conversation, its share of the live structures
    bucket_fields: int
    bytes_per_bucket_field: float
    other_bytes: int  # everything else of the namespace (counters, registries)

    @property
    def per_open_conversation(self) -> float:
        return self.state_bytes + self.live_bytes


def apply_floor(redis_url: str, ns: str, hours: float, rate: float, batch: int = 500,
                partitions: int = 4, cfg: KpiConfig | None = None) -> int:
    """Apply a simulated floor ending now (with the settings' KPI config unless ``cfg``);
    how many events were applied."""
    now = int(time.time() * 1000)
    events = sim.generate(sim.FloorParams(seed=11, rate_per_min=rate),
                          now - int(hours * 3_600_000), now)
    streams: dict[tuple[str, int], list[bytes]] = {}
    for topic, key, value in sim.route(events, "t", "c"):
        streams.setdefault((topic, zlib.crc32(key) % partitions), []).append(value)
    cfg = cfg or load_settings().kpi_config()
    schema = SchemaConfig()

    async def run() -> None:
        client = aioredis.Redis.from_url(redis_url)
        w = WindowWriter(client, Keys(ns), cfg, time.time)
        for (topic, p), raws in sorted(streams.items()):
            for start in range(0, len(raws), batch):
                records = [Record(start + i, event=validate(r, schema, lambda: 2**62))
                           for i, r in enumerate(raws[start:start + batch])]
                await w.apply(topic, p, records)
        await client.aclose()  # type: ignore[attr-defined]  # types-redis predates it

    asyncio.run(run())
    return sum(len(v) for v in streams.values())


def measure(client: redis.Redis, ns: str) -> StoreMemory:
    sizes: dict[str, int] = {}
    counts: dict[str, int] = {}
    fields = 0
    for key in store_keys(client, ns):
        kind = key.decode().split("}:", 1)[1].split(":", 1)[0]
        sizes[kind] = sizes.get(kind, 0) + (client.memory_usage(key, samples=0) or 0)
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "b":
            fields += int(client.hlen(key))
    n = counts.get("c", 0)
    live = sum(sizes.get(k, 0) for k in LIVE_KINDS)
    other = sum(v for k, v in sizes.items() if k not in (*LIVE_KINDS, "c", "b"))
    return StoreMemory(n, sizes.get("c", 0) / max(n, 1), live / max(n, 1), fields,
                       sizes.get("b", 0) / max(fields, 1), other)


def run(redis_url: str, hours: float = 2.0, rate: float = 40.0) -> StoreMemory:
    ns = "mem" + uuid.uuid4().hex[:8]
    apply_floor(redis_url, ns, hours, rate)
    client = redis.Redis.from_url(redis_url)
    try:
        return measure(client, ns)
    finally:
        drop_store(client, ns)
        client.close()


def describe(m: StoreMemory) -> str:
    return (f"{m.conversations:,} conversations with state: {m.per_open_conversation:.0f} "
            f"bytes per open conversation (state {m.state_bytes:.0f} + live-gauge entries "
            f"{m.live_bytes:.0f}); {m.bucket_fields:,} bucket fields, "
            f"{m.bytes_per_bucket_field:.1f} bytes each")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--hours", type=float, default=2.0, help="simulated history")
    ap.add_argument("--rate", type=float, default=40.0,
                    help="new conversations per simulated minute")
    args = ap.parse_args()
    print(describe(run(args.redis_url, args.hours, args.rate)))


if __name__ == "__main__":
    main()
