"""Profile the worker's per-event path without Kafka: validate + apply batches to Redis.

    .venv/bin/python -m bench.profile_apply [--events 30000] [--redis-url URL]

Prints the top functions by cumulative time (cProfile), i.e. where a batch spends it.
``bench.run`` calls :func:`profile` and writes the per-event summary to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
import uuid

import redis.asyncio as aioredis

from devtools import simulate as sim
from streams.schema import SchemaConfig, validate
from supportkpi.settings import load_settings
from windows.keys import Keys
from windows.writer import Record, WindowWriter

# (file suffix, function name) → what it is, in the order the summary lists them
COSTS: tuple[tuple[str, str, str], ...] = (
    ("windows/writer.py", "apply", "whole apply path (`WindowWriter.apply`)"),
    ("streams/schema.py", "validate", "schema validation (`validate`, incl. `json.loads`)"),
    ("windows/writer.py", "_plan", "dedupe, lateness and watermark plan (`_plan`)"),
    ("windows/kpi.py", "contributions", "`kpi.contributions` (a conversation's contribution)"),
    ("windows/kpi.py", "bucket_deltas", "`kpi.bucket_deltas` (diff, expand to resolutions)"),
    ("windows/kpi.py", "live_state", "`kpi.live_state` (live queue state)"),
    ("windows/writer.py", "_gauge_ops", "gauge ops (sorted sets, open counts)"),
    ("windows/writer.py", "add", "building script ops (`_Ops.add`)"),
    ("windows/writer.py", "_decode_state", "decoding conversation states read from Redis"),
    ("windows/writer.py", "_encode_state", "encoding conversation states for the script"),
    ("redis/asyncio/client.py", "execute", "pipelined state read (redis-py, incl. round trip)"),
    ("windows/writer.py", "_eval", "the batch script call (redis-py, incl. Redis time)"),
)


def profile(redis_url: str, n_events: int = 30_000, batch: int = 1000
            ) -> tuple[int, float, list[tuple[str, float]]]:
    """(events, seconds, [(cost, cumulative seconds)]) for validate + apply under cProfile."""
    now = int(time.time() * 1000)
    events = sim.generate(sim.FloorParams(seed=7, rate_per_min=n_events / 5.5 / 1440),
                          now - 86_400_000, now)[:n_events]
    raws = [value for _t, _k, value in sim.route(events, "t", "c")]
    cfg = load_settings().kpi_config()
    schema = SchemaConfig()

    async def run() -> float:
        client = aioredis.Redis.from_url(redis_url)
        writer = WindowWriter(client, Keys("prof" + uuid.uuid4().hex[:6]), cfg, time.time)
        t0 = time.perf_counter()
        for start in range(0, len(raws), batch):
            records = [Record(start + i, event=validate(r, schema, lambda: 2**62))
                       for i, r in enumerate(raws[start:start + batch])]
            await writer.apply("t", 0, records)
        await client.aclose()
        return time.perf_counter() - t0

    prof = cProfile.Profile()
    prof.enable()
    seconds = asyncio.run(run())
    prof.disable()
    stats = pstats.Stats(prof)
    totals: dict[tuple[str, str], float] = {}
    for (file, _line, func), row in stats.stats.items():  # type: ignore[attr-defined]
        for suffix, name, _label in COSTS:
            if func == name and file.endswith(suffix):
                totals[(suffix, name)] = totals.get((suffix, name), 0.0) + row[3]
    out = [(label, totals.get((suffix, name), 0.0)) for suffix, name, label in COSTS]
    return len(raws), seconds, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=30_000)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:16379/0")
    ap.add_argument("--batch", type=int, default=1000, help="events per apply call")
    args = ap.parse_args()
    n, seconds, rows = profile(args.redis_url, args.events, args.batch)
    print(f"{n} events in {seconds:.2f}s = {n / seconds:,.0f} events/s "
          f"(profiled, one partition, batches of {args.batch})")
    for label, s in rows:
        print(f"{s / n * 1e6:8.1f} µs/event  {label}")


if __name__ == "__main__":
    main()
