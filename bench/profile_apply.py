"""Where the worker's per-event time goes, without Kafka: validate + apply batches to Redis.

    .venv/bin/python -m bench.profile_apply [--events 30000] [--redis-url URL]

The KPI core is compiled (mypyc, setup.py), and cProfile cannot see inside compiled
functions; so instead of a profiler this times the phases of the apply path from where the
(uncompiled) writer calls them, wrapping each for the run: a wrapper costs well under a
microsecond per call against phases of tens. Redis' own CPU and the commands it ran per
event come from INFO. ``bench.run`` calls :func:`profile` and writes the table to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio as aioredis

from bench.common import redis_usage
from devtools import simulate as sim
from streams.app import tune_gc
from streams.schema import SchemaConfig, validate
from supportkpi.settings import load_settings
from windows import writer as writer_mod
from windows.keys import Keys
from windows.writer import Record, WindowWriter

# (owner, attribute, what it is): the phases timed, where the (interpreted) writer calls
# them; what the compiled functions call among themselves cannot be wrapped
PHASES: tuple[tuple[Any, str, str], ...] = (
    (writer_mod, "plan_records", "which records count (`plan.plan_records`, compiled)"),
    (writer_mod, "build_batch", "the script call: every changed conversation evaluated "
                                "before and after, bucket deltas, live-gauge ops, states "
                                "encoded (`plan.build_batch`, compiled)"),
    (writer_mod, "remember", "the written conversations' views kept for the next batch "
                             "(`plan.remember`, compiled)"),
    (WindowWriter, "_read", "pipelined state read (redis-py, incl. the round trip)"),
    (WindowWriter, "_eval", "the batch script call (redis-py, incl. Redis' time)"),
)


@dataclass
class Profile:
    events: int
    batch: int
    validate_us: float  # worker CPU per event
    apply_us: float  # worker CPU per event in WindowWriter.apply (wall inside awaits excluded)
    apply_wall_us: float
    redis_us: float  # Redis CPU per event
    phases: list[tuple[str, float]]  # (what, wall µs per event)
    commands: list[tuple[str, float]] = field(default_factory=list)  # per event, most first


@contextmanager
def _timed(spent: dict[str, float]) -> Iterator[None]:
    """Wrap every phase for the run: wall seconds per phase in ``spent``."""
    saved = []
    for owner, name, label in PHASES:
        fn = getattr(owner, name)
        saved.append((owner, name, fn))
        spent[label] = 0.0
        if asyncio.iscoroutinefunction(fn):
            async def awrap(*a: Any, _fn: Any = fn, _l: str = label, **kw: Any) -> Any:
                t = time.perf_counter()
                try:
                    return await _fn(*a, **kw)
                finally:
                    spent[_l] += time.perf_counter() - t
            setattr(owner, name, functools.wraps(fn)(awrap))
        else:
            def wrap(*a: Any, _fn: Callable[..., Any] = fn, _l: str = label, **kw: Any) -> Any:
                t = time.perf_counter()
                try:
                    return _fn(*a, **kw)
                finally:
                    spent[_l] += time.perf_counter() - t
            setattr(owner, name, wrap)
    try:
        yield
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)


# new conversations per simulated minute in bench.run's preload (1,000,000 events a day)
PRELOAD_RATE_PER_MIN = 1_000_000 / 5.5 / 1440


def profile(redis_url: str, n_events: int = 30_000, batch: int = 1000, partitions: int = 4,
            rate_per_min: float = PRELOAD_RATE_PER_MIN) -> Profile:
    """Validate + apply ``n_events`` of a floor as dense as bench.run's preload, split over
    ``partitions`` partitions of two topics, in batches of ``batch`` per partition."""
    now = int(time.time() * 1000)
    # the density of bench.run's preload (a million events a day): how many events share a
    # bucket decides how much a batch pre-aggregates, so a sparser floor would mislead
    span_ms = int(n_events / (rate_per_min * 5.5) * 60_000) + 3_600_000
    events = sim.generate(sim.FloorParams(seed=7, rate_per_min=rate_per_min),
                          now - span_ms, now)[:n_events]
    # split by conversation into partitions, as Kafka does: each partition's share comes
    # in batches of its own (the two input topics of a partition number share its slot)
    streams: dict[tuple[str, int], list[bytes]] = {}
    for topic, key, value in sim.route(events, "t", "c"):
        streams.setdefault((topic, zlib.crc32(key) % partitions), []).append(value)
    raws = [v for vs in streams.values() for v in vs]
    cfg = load_settings().kpi_config()
    schema = SchemaConfig()
    c0 = time.process_time()
    validated = [validate(r, schema, lambda: 2**62) for r in raws]
    validate_s = time.process_time() - c0
    by_stream: dict[tuple[str, int], list[Any]] = {}
    it = iter(validated)
    for tp, vs in streams.items():
        by_stream[tp] = [next(it) for _ in vs]
    sync = redis.Redis.from_url(redis_url)
    spent: dict[str, float] = {}

    async def run() -> tuple[float, float]:
        client = aioredis.Redis.from_url(redis_url)
        w = WindowWriter(client, Keys("prof" + uuid.uuid4().hex[:6]), cfg, time.time)
        batches = []  # round robin over the partitions, a batch each, as fetches come
        for (topic, p), evs in sorted(by_stream.items()):
            for k, start in enumerate(range(0, len(evs), batch)):
                batches.append((k, topic, p, [Record(start + i, event=ev) for i, ev
                                              in enumerate(evs[start:start + batch])]))
        batches.sort(key=lambda b: b[0])
        t0, c0 = time.perf_counter(), time.process_time()
        for _k, topic, p, records in batches:
            await w.apply(topic, p, records)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        await client.aclose()  # type: ignore[attr-defined]  # types-redis predates it
        return wall, cpu

    tune_gc()  # as the worker does
    cpu0, calls0 = redis_usage(sync)
    with _timed(spent):
        wall, cpu = asyncio.run(run())
    cpu1, calls1 = redis_usage(sync)
    sync.close()
    n = len(raws)
    per = {c: (calls1[c] - calls0.get(c, 0)) / n for c in calls1}
    commands = sorted(((c, v) for c, v in per.items() if v >= 0.01), key=lambda x: -x[1])
    return Profile(n, batch, validate_s / n * 1e6, cpu / n * 1e6, wall / n * 1e6,
                   (cpu1 - cpu0) / n * 1e6,
                   [(label, s / n * 1e6) for label, s in spent.items()], commands)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=30_000)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:16379/0")
    ap.add_argument("--batch", type=int, default=1000, help="events per apply call")
    ap.add_argument("--partitions", type=int, default=4, help="partitions per input topic")
    args = ap.parse_args()
    p = profile(args.redis_url, args.events, args.batch, args.partitions)
    print(f"{p.events} events, {args.partitions} partitions of 2 topics, batches of "
          f"{p.batch}: worker CPU per event "
          f"validate {p.validate_us:.1f} µs + apply {p.apply_us:.1f} µs "
          f"(apply wall {p.apply_wall_us:.1f} µs); Redis CPU {p.redis_us:.1f} µs")
    for label, us in p.phases:
        print(f"{us:8.1f} µs/event  {label}")
    print("Redis commands per event: " + ", ".join(f"{c} {v:.2f}" for c, v in p.commands))


if __name__ == "__main__":
    main()
