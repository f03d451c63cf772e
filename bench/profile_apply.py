"""Profile the worker's per-event path without Kafka: validate + apply batches to Redis.

    .venv/bin/python -m bench.profile_apply [--events 30000] [--redis-url URL]

Prints the top functions by cumulative time (cProfile), i.e. where a batch spends it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
import uuid

import redis.asyncio as aioredis

from streams.schema import SchemaConfig, validate
from supportkpi import simulate as sim
from supportkpi.settings import load_settings
from windows.keys import Keys
from windows.writer import Record, WindowWriter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=30_000)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:16379/0")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    now = int(time.time() * 1000)
    events = sim.generate(sim.FloorParams(seed=7, rate_per_min=args.events / 5.5 / 1440),
                          now - 86_400_000, now)[: args.events]
    raws = [value for _t, _k, value in sim.route(events, "t", "c")]
    cfg = load_settings().kpi_config()
    schema = SchemaConfig()

    async def run() -> float:
        client = aioredis.Redis.from_url(args.redis_url)
        writer = WindowWriter(client, Keys("prof" + uuid.uuid4().hex[:6]), cfg, time.time, "p")
        t0 = time.perf_counter()
        for start in range(0, len(raws), 1000):
            batch = [Record(start + i, event=validate(r, schema, lambda: 2**62))
                     for i, r in enumerate(raws[start:start + 1000])]
            await writer.apply("t", 0, batch)
        await client.aclose()
        return time.perf_counter() - t0

    prof = cProfile.Profile()
    prof.enable()
    seconds = asyncio.run(run())
    prof.disable()
    print(f"{len(raws)} events in {seconds:.2f}s = {len(raws) / seconds:,.0f} events/s "
          "(profiled, one partition, batches of 1000)")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
