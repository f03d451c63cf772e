"""One command for the benchmark suite (see docs/benchmarks.md).

    .venv/bin/python -m bench.run                 # default: 1,000,000 events, 3 rounds
    .venv/bin/python -m bench.run --quick         # CI smoke test: small, 1 round

Preloads a seeded simulated history into Kafka once, then measures on the same data, each
variant from the start with a fresh consumer group: the raw aiokafka ceiling, a plain
Faust decode-and-drop agent, and the real worker. Then event-to-metric latency at a paced
rate, /metrics render cost against the number of series, and Redis memory.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from bench import wall_streams
from bench.catch_up import CatchUp, catch_up
from bench.catch_up import describe as describe_catch_up
from bench.common import (
    CURVE_SETTINGS,
    ROOT,
    SOAK_END,
    SOAK_START,
    free_port,
    log,
    partition_hashes,
    redis_usage,
    rss_mb,
    store_keys,
    worker_env,
)
from bench.preload import preload
from bench.profile_apply import Profile, profile
from devtools import simulate as sim
from devtools.services import ServiceConfig, down, up
from windows.keys import Keys

TICKS = os.sysconf("SC_CLK_TCK")
# bench.customers writes this section; a bench.run keeps it
CUSTOMERS_HEADING = "## Customer path"


@dataclass
class Measure:
    events: int
    seconds: float
    cpu_seconds: float
    extra: dict[str, float] = field(default_factory=dict)
    namespace: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_per_million(self) -> float:
        return self.cpu_seconds / self.events * 1e6


# ------------------------------------------------------------------ preload


# ------------------------------------------------------------------ variants


async def _ceiling(svc: ServiceConfig, topics: tuple[str, str], n: int,
                   box: float) -> Measure:
    from aiokafka import AIOKafkaConsumer
    from msgspec import ValidationError

    from streams.wire import DECODER

    c = AIOKafkaConsumer(*topics, bootstrap_servers=svc.bootstrap,
                         group_id=f"bench-ceiling-{uuid.uuid4().hex[:8]}",
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         max_poll_records=5000)
    await c.start()
    seen, t0, cpu0 = 0, 0.0, 0.0
    try:
        while seen < n and (seen == 0 or time.perf_counter() - t0 < box):
            batch = await c.getmany(timeout_ms=1000, max_records=5000)
            for msgs in batch.values():
                if seen == 0 and msgs:
                    t0, cpu0 = time.perf_counter(), time.process_time()
                for m in msgs:
                    try:  # noqa: SIM105 - the worker's own decoder (streams.wire), no ctx manager
                        DECODER.decode(m.value)
                    except ValidationError:  # not the fast path's shape: still decoded
                        pass
                seen += len(msgs)
        return Measure(seen, time.perf_counter() - t0, time.process_time() - cpu0)
    finally:
        await c.stop()


def ceiling(svc: ServiceConfig, topics: tuple[str, str], n: int, box: float) -> Measure:
    return asyncio.run(_ceiling(svc, topics, n, box))


def baseline(svc: ServiceConfig, topics: tuple[str, str], n: int, tmp: Path,
             box: float, mode: str = "plain") -> Measure:
    """A Faust agent that decodes and drops: ``plain`` (per record, the baseline) or
    ``batch`` (the worker's batch transport: the Faust ceiling)."""
    group = f"bench-baseline-{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.faust_baseline", svc.bootstrap, ",".join(topics), str(n),
         group, str(tmp / group), str(box), mode],
        cwd=ROOT, capture_output=True, text=True, timeout=1800)
    # Faust routes print() through its logger, so the line may be on either stream
    found = [ln.split("RESULT ", 1)[1].strip() for ln in (proc.stdout + proc.stderr).splitlines()
             if "RESULT " in ln]
    if not found:
        raise RuntimeError(f"baseline failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    doc = json.loads(found[0])
    return Measure(doc["events"], doc["seconds"], doc["cpu_seconds"])


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and of its live children."""
    total = _proc_cpu(pid)
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    total += _proc_cpu(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    return total


def _redis_calls(client: redis.Redis) -> tuple[int, int, float]:
    cpu, calls = redis_usage(client)
    return sum(calls.values()), calls.get("evalsha", 0), cpu


def _start_worker(env: dict[str, str], tmp: Path, ns: str, i: int) -> subprocess.Popen[bytes]:
    """Worker ``i`` of a bench run: the first logs to ``<ns>.log``, the others to
    ``<ns>-<i>.log`` with their own Faust data directory."""
    name = ns if i == 0 else f"{ns}-{i}"
    if i:
        env = {**env, "SUPPORT_DATA_DIR": f"{env['SUPPORT_DATA_DIR']}-{i}"}
    return subprocess.Popen([sys.executable, "-m", "supportkpi.cli", "worker"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp / f"{name}.log", "wb"))


def ours(svc: ServiceConfig, topics: tuple[str, str], n: int, tmp: Path, box: float,
         extra_env: dict[str, str] | None = None,
         during: Callable[[], AbstractContextManager[Any]] = nullcontext,
         workers: int = 1) -> Measure:
    """The worker draining the preloaded history; ``during`` runs alongside the measured
    part (e.g. wall viewers). With ``workers`` > 1, that many worker processes in one
    consumer group (each its own data directory); CPU is their sum."""
    ns = f"bench{uuid.uuid4().hex[:8]}"
    env = worker_env(svc, ns, tmp, 0, SUPPORT_TOPIC_TICKETS=topics[0],
                      SUPPORT_TOPIC_CHATS=topics[1], SUPPORT_ALLOWED_LATENESS="24h",
                      **(extra_env or {}))
    client = redis.Redis.from_url(svc.redis_url)
    def processed() -> int:
        return sum(int(v) for vals in partition_hashes(client, ns, "stats")
                   for k, v in vals.items()
                   if k.startswith((b"processed:", b"rejected:", b"duplicate:", b"late:")))

    procs = [_start_worker(env, tmp, ns, i) for i in range(workers)]

    def cpu_now() -> float:  # the workers' and their own processes' (the customers one)
        return sum(_tree_cpu(p.pid) for p in procs)

    try:
        while processed() == 0:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"worker exited; see {tmp / ns}.log")
            time.sleep(0.02)
        with during():
            start_n, t0, cpu0 = processed(), time.perf_counter(), cpu_now()
            r0 = _redis_calls(client)
            done = start_n
            while done < n and time.perf_counter() - t0 < box:
                time.sleep(0.05)
                done = processed()
            seconds = time.perf_counter() - t0
            cpu = cpu_now() - cpu0
            r1 = _redis_calls(client)
        counted = done - start_n
        if counted <= 0:
            raise RuntimeError(f"the worker applied all {n:,} events before the first "
                               "progress poll, so there is nothing left to time: preload "
                               "more events (--events)")
        return Measure(counted, seconds, cpu, {
            "redis_calls_per_event": (r1[0] - r0[0]) / counted,
            "lua_calls_per_event": (r1[1] - r0[1]) / counted,
            "redis_cpu_per_million": (r1[2] - r0[2]) / counted * 1e6,
        }, namespace=ns)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


# ------------------------------------------------------------------ latency


def latency(svc: ServiceConfig, rate: int, seconds: float, tmp: Path,
            poll_s: float = 0.5, full_every_s: float = 5.0) -> dict[str, float]:
    """Paced producer with occurred_at = send time; poll /metrics for the newest event.

    The poll asks only for `support_last_event_timestamp_seconds` (`/metrics?name[]=`),
    which the same atomic script that changes the windows writes: when it is visible, every
    KPI of that event is. A full scrape every `full_every_s` (like a Prometheus scraping
    every 5 s) keeps the read side's cost in the picture without the probe itself loading
    the worker it measures.
    """
    import threading
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    ns = f"lat{uuid.uuid4().hex[:8]}"
    topics = (f"{ns}.tickets", f"{ns}.chats")
    port = free_port()
    env = worker_env(svc, ns, tmp, port)
    proc = subprocess.Popen([sys.executable, "-m", "supportkpi.cli", "worker"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp / f"{ns}.log", "wb"))  # noqa: SIM115
    probe = "name[]=support_last_event_timestamp_seconds"

    def newest() -> float | None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics?{probe}",
                                    timeout=5) as r:
            text = r.read().decode()
        for fam in text_string_to_metric_families(text):
            if fam.name == "support_last_event_timestamp_seconds" and fam.samples:
                return float(fam.samples[0].value)
        return None

    def full_scrape() -> float:
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
            r.read()
        return time.perf_counter() - t0

    try:
        deadline = time.time() + 60
        while True:
            try:
                newest()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        time.sleep(WARM_UP_S)  # group join, assignment, seeks
        sent: dict[str, float] = {}
        deliveries: list[tuple[str, int, float]] = []
        th = threading.Thread(target=_paced_produce, args=(svc, topics, rate, seconds, sent),
                              kwargs={"deliveries": deliveries})
        th.start()
        steady_at = time.time() + STEADY_AFTER_S
        per_event: list[float] = []
        finished: dict[str, float] = {}
        prober = threading.Thread(target=_visibility_probe,
                                  args=(svc, ns, topics, th, deliveries, steady_at, per_event,
                                        finished))
        prober.start()
        cpu0, wall0 = _proc_cpu(proc.pid), time.perf_counter()
        samples: list[float] = []
        fulls: list[float] = []
        time.sleep(1)
        steady_from = time.time() + STEADY_AFTER_S - 1
        next_full = time.time() + full_every_s
        drain_until = float("inf")
        drained = float("nan")
        while True:
            t = newest()
            if t is not None and th.is_alive() and time.time() >= steady_from:
                samples.append(time.time() - t)
            if not th.is_alive():
                drain_until = min(drain_until, time.time() + 30)
                if not prober.is_alive():  # every event sent is visible in the store
                    # how long after the last one was sent (the producer's flush and
                    # close ended its thread later than that)
                    drained = finished.get("at", math.nan) - sent["last"]
                    break
                if time.time() > drain_until:
                    drained = float("nan")  # gave up waiting for it
                    break
            if time.time() >= next_full:
                fulls.append(full_scrape())
                next_full += full_every_s
            time.sleep(poll_s)
        th.join()
        worker_cpu = (_proc_cpu(proc.pid) - cpu0) / (time.perf_counter() - wall0)
        prober.join()
        samples.sort()
        per_event.sort()
        achieved = _achieved(sent)
        return {"rate": rate, "seconds": seconds, "samples": len(samples),
                "sent": sent.get("n", 0), "drain_s": drained, "achieved": achieved,
                "events": len(per_event), "p50": _q(per_event, 0.5),
                "p99": _q(per_event, 0.99), "max": per_event[-1] if per_event else math.nan,
                "metrics_p50": _q(samples, 0.5), "metrics_p99": _q(samples, 0.99),
                "full_scrapes": len(fulls), "worker_cpu": worker_cpu,
                "cpu_per_million": worker_cpu / achieved * 1e6 if achieved else math.nan,
                "scrape_p50": sorted(fulls)[len(fulls) // 2] if fulls else float("nan")}
    finally:
        proc.terminate()
        proc.wait(30)


def _q(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else math.nan


PROBE_EVERY_S = 0.005


def _visibility_probe(svc: ServiceConfig, ns: str, topics: tuple[str, str],
                      producer: Any, deliveries: list[tuple[str, int, float]],
                      steady_at: float, out: list[float], finished: dict[str, float]
                      ) -> None:
    """Each event's latency: from its send until the store's applied offset of its
    partition reaches it (the batch script moves that offset in the same atomic call that
    changes the windows, so every KPI of the event is visible then), read from Redis every
    5 ms. Events sent before ``steady_at`` are left out (the run's start is not steady);
    ``finished["at"]`` is when the last one became visible."""
    from collections import deque

    client = redis.Redis.from_url(svc.redis_url)
    fields = [f"{t}:{p}" for t in topics for p in range(READ_PARTITIONS)]
    keys = Keys(ns)
    pending: dict[str, deque[tuple[int, float]]] = {f: deque() for f in fields}
    taken, give_up = 0, math.inf
    while True:
        while taken < len(deliveries):  # the producer's thread appends; we only read
            field, offset, at = deliveries[taken]
            pending.setdefault(field, deque()).append((offset, at))
            taken += 1
        pipe = client.pipeline(transaction=False)
        for f in fields:
            pipe.hget(keys.of(f).offsets, f)
        applied = pipe.execute()
        now = time.time()
        for f, raw in zip(fields, applied, strict=True):
            queue, top = pending[f], -1 if raw is None else int(raw)
            while queue and queue[0][0] <= top:
                _offset, at = queue.popleft()
                if at >= steady_at:
                    out.append(now - at)
        if not producer.is_alive():
            give_up = min(give_up, now + 30)
            if taken == len(deliveries) and not any(pending.values()):
                finished["at"] = now  # the last event became visible at this probe
                return
            if now > give_up:
                left = {f: len(q) for f, q in pending.items() if q}
                log(f"visibility probe gave up; events not seen in the store: {left}")
                return
        time.sleep(PROBE_EVERY_S)


WARM_UP_S = 10.0
LATENCY_TARGETS = {2000: 0.5, 10000: 1.0}  # issue 18: p99 seconds at these rates
STEADY_AFTER_S = 3.0  # latency samples of the first seconds of a paced run are not steady
READ_PARTITIONS = 4  # the default SUPPORT_TOPIC_PARTITIONS: what a scrape merges


def _paced_events(rate: int, seconds: float, seed: int, rate_per_min: float | None
                  ) -> list[tuple[str, bytes, dict[str, Any]]]:
    """The events a paced run sends, generated before its clock starts.

    By default a steady floor: ``rate × seconds`` events from the end of a simulated
    stretch three times as long (its start, when the floor is still filling with new
    conversations, is left out), so the stream mixes starts, replies, solves and surveys
    as a busy floor does; their own times are replaced by the send time. With
    ``rate_per_min`` (new conversations per simulated minute): one simulated hour at that
    density, from its start."""
    now = int(time.time() * 1000)
    n = int(rate * seconds) + 1
    if rate_per_min is None:
        per_min = 200.0
        span_ms = int(3 * n / (per_min * 5.5) * 60_000) + 60_000
        events = sim.generate(sim.FloorParams(seed=seed, rate_per_min=per_min),
                              now - span_ms, now)[-n:]
    else:
        events = sim.generate(sim.FloorParams(seed=seed, rate_per_min=rate_per_min),
                              now - 3_600_000, now)[:n]
    return [(topic, key, json.loads(value)) for topic, key, value in
            sim.route(events, "t", "c")]


def _paced_produce(svc: ServiceConfig, topics: tuple[str, str], rate: int, seconds: float,
                   sent: dict[str, float], seed: int = 9,
                   rate_per_min: float | None = None,
                   deliveries: list[tuple[str, int, float]] | None = None) -> None:
    """Send simulated events at ``rate`` events/s for ``seconds``, ``occurred_at`` = send
    time (see :func:`_paced_events`).

    librdkafka (confluent-kafka) sends: ~4 µs of CPU per message here, where kafka-python
    took ~100 µs, which at 10,000 events/s was a core of the machine the worker measures
    runs on (and it fell short of the rate). Keys are partitioned as Java clients and Faust
    do (murmur2), so a conversation lands where the worker expects it. ``deliveries``
    collects each event's (topic:partition, offset, send time) as the broker confirms it:
    the per-event latency probe finds when each one became visible in the store."""
    from confluent_kafka import Producer

    events = _paced_events(rate, seconds, seed, rate_per_min)[: int(rate * seconds) + 1]
    names = {"t": topics[0], "c": topics[1]}
    p = Producer({"bootstrap.servers": svc.bootstrap, "linger.ms": 5, "acks": 1,
                  "partitioner": "murmur2_random", "queue.buffering.max.messages": 1_000_000})

    def delivered(at: float, err: Any, msg: Any) -> None:
        if deliveries is not None and err is None:
            deliveries.append((f"{msg.topic()}:{msg.partition()}", msg.offset(), at))
    t0 = sent["first"] = time.time()  # the clock starts at the first event
    i = 0
    while i < len(events):
        # every event due by now goes out together (a wake-up per event would cost the
        # producer more than the worker measured on the same cores); they are due at
        # most SEND_EVERY_S apart
        ahead = t0 + i / rate - time.time()
        if ahead > 0:
            time.sleep(max(ahead, SEND_EVERY_S))
        now = sent["last"] = time.time()
        upto = min(len(events), int((now - t0) * rate) + 1)
        for topic, key, doc in events[i:upto]:
            doc["occurred_at"] = now
            value = orjson.dumps(doc)
            while True:
                try:
                    p.produce(names[topic], value, key,
                              on_delivery=functools.partial(delivered, now))
                    break
                except BufferError:  # the local queue is full: let it drain
                    p.poll(0.005)
        p.poll(0)
        i = upto
    p.flush(30)
    sent["n"] = len(events)


SEND_EVERY_S = 0.002


def _achieved(sent: dict[str, float]) -> float:
    """The rate the paced producer really sent at (it is one Python thread: at a high
    target rate it can fall short, and the row must say so)."""
    span = sent.get("last", 0.0) - sent.get("first", 0.0)
    return (sent.get("n", 0) - 1) / span if span > 0 else float("nan")


def latency_baseline(svc: ServiceConfig, rate: int, seconds: float,
                     tmp: Path) -> dict[str, float]:
    """The same paced stream into a plain Faust agent that only decodes: Faust's own share."""
    import threading

    ns = f"latb{uuid.uuid4().hex[:8]}"
    topics = (f"{ns}.tickets", f"{ns}.chats")
    admin = KafkaAdminClient(bootstrap_servers=svc.bootstrap)
    admin.create_topics([NewTopic(t, 4, 1) for t in topics])
    admin.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.faust_latency", svc.bootstrap, ",".join(topics),
         str(10**9), ns, str(tmp / ns), "5"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(WARM_UP_S)
        sent: dict[str, float] = {}
        th = threading.Thread(target=_paced_produce, args=(svc, topics, rate, seconds, sent))
        th.start()
        th.join()
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    found = [ln.split("RESULT ", 1)[1] for ln in out.splitlines() if "RESULT " in ln]
    if not found:
        raise RuntimeError(f"latency baseline failed:\n{out[-2000:]}")
    doc = json.loads(found[0])
    return {"events": doc["events"], "sent": sent.get("n", 0), "achieved": _achieved(sent),
            "p50": doc["p50"],
            "p99": doc["p99"], "max": doc["max"]}


# ------------------------------------------------------------------ read side


def _served_ms(render: Callable[[], bytes], scrapers: int = 2, rounds: int = 5) -> float:
    """What a scraper waits for /metrics with the default SUPPORT_METRICS_CACHE: two
    scrapers (an HA pair) every interval, scaled down to 1 s (median ms of the scrapes after
    the first, which waits for the first render)."""
    from serve.scrape import ScrapeCache

    cache = ScrapeCache(render, max_age_s=1.0)

    async def scrape() -> list[float]:
        waits = []
        for _ in range(rounds + 1):
            t0 = time.perf_counter()
            await asyncio.gather(*(cache.body() for _ in range(scrapers)))
            waits.append(time.perf_counter() - t0)
            await asyncio.sleep(1.0 - waits[-1] % 1.0)
        return waits[1:]

    return statistics.median(asyncio.run(scrape())) * 1000


def _plain_registry(series: int) -> Any:
    """prometheus_client's own gauges with as many series, labelled as the KPI series are
    (window and four dimensions), for generate_latest to render."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    g = Gauge("support_plain_value", "The same number of series, as plain gauges.",
              ["window", "queue", "channel", "team", "priority"], registry=registry)
    for i in range(series):
        g.labels(("5m", "15m", "1h", "24h")[i % 4], f"q{i // 4 % 97:03d}",
                 ("all", "chat", "email")[i % 3], f"t{i // 291}", "all").set(i * 1.5)
    return registry


def _render_body(registry: Any) -> bytes:
    from serve.exposition import render

    return render(registry.collect())


def _generate_latest_s(registry: Any) -> float:
    from prometheus_client import generate_latest

    t0 = time.perf_counter()
    generate_latest(registry)
    return time.perf_counter() - t0


def read_cost(svc: ServiceConfig, queues: list[int]) -> list[dict[str, float]]:
    """/metrics render time against exported series, from synthetic floors in Redis."""
    import redis.asyncio as aioredis
    from prometheus_client import CollectorRegistry

    from serve.exposition import render as exposition
    from serve.metrics import KpiCollector, PipelineCollector
    from streams.schema import SchemaConfig, validate
    from supportkpi.settings import load_settings
    from windows.keys import Keys
    from windows.reader import WindowReader
    from windows.writer import Record, WindowWriter

    out = []
    for q in queues:
        settings = load_settings(max_dimension_values=10_000)
        cfg = settings.kpi_config()
        ns = f"rc{uuid.uuid4().hex[:8]}"
        now = int(time.time() * 1000)
        events = sim.generate(sim.FloorParams(seed=3, rate_per_min=max(20.0, q * 2.0)),
                              now - 3_600_000, now)
        raws = []
        for e in events:  # spread conversations over q queues
            if "queue" in e:
                e["queue"] = f"q{hash(e['conversation_id']) % q:03d}"
            raws.append(json.dumps(e).encode())

        async def fill(ns: str, cfg: Any, raws: list[bytes]) -> None:
            """Into READ_PARTITIONS partitions by conversation, as the worker would: the
            read side merges them (so a scrape reads every partition's buckets)."""
            client = aioredis.Redis.from_url(svc.redis_url)
            w = WindowWriter(client, Keys(ns), cfg, time.time)
            parts: list[list[Record]] = [[] for _ in range(READ_PARTITIONS)]
            for r in raws:
                e = validate(r, SchemaConfig(), lambda: 2**62)
                part = parts[zlib.crc32(e.conversation_id.encode()) % READ_PARTITIONS]
                part.append(Record(len(part), event=e))
            for p, recs in enumerate(parts):
                for s in range(0, len(recs), 2000):
                    await w.apply("t", p, recs[s:s + 2000])
            await client.aclose()  # type: ignore[attr-defined]  # types-redis predates it

        asyncio.run(fill(ns, cfg, raws))
        reader = WindowReader(redis.Redis.from_url(svc.redis_url), Keys(ns), cfg)
        registry = CollectorRegistry(auto_describe=True)
        registry.register(KpiCollector(reader, cfg))
        registry.register(PipelineCollector(reader))
        text = exposition(registry.collect())
        series = sum(1 for ln in text.decode().splitlines() if ln and not ln.startswith("#"))
        plain = _plain_registry(series)
        times, plain_times = [], []
        for _ in range(5):  # interleaved: each round renders both, the same load on both
            r0 = reader.reads
            t0 = time.perf_counter()
            exposition(registry.collect())
            times.append(time.perf_counter() - t0)
            reads = reader.reads - r0
            plain_times.append(_generate_latest_s(plain))
        served = _served_ms(functools.partial(_render_body, registry))
        per_window = {}
        for w in cfg.windows:
            t0 = time.perf_counter()
            reader.window(w, now)
            per_window[w.name] = time.perf_counter() - t0
        ratios = [a / b for a, b in zip(times, plain_times, strict=True)]
        out.append({"queues": q, "series": series, "render_ms": statistics.median(times) * 1000,
                    "us_per_series": statistics.median(times) / series * 1e6,
                    "plain_us_per_series": statistics.median(plain_times) / series * 1e6,
                    "ratio_min": min(ratios), "ratio_median": statistics.median(ratios),
                    "ratio_max": max(ratios), "served_ms": served,
                    "redis_reads": reads, **{f"read_{k}_ms": v * 1000
                                             for k, v in per_window.items()}})
        log(f"  {series} series: /metrics in {out[-1]['render_ms']:.0f} ms, {reads} reads")
    return out


def memory(svc: ServiceConfig, namespaces: list[str]) -> dict[str, float]:
    """Bytes per conversation state and per bucket field, sampled with MEMORY USAGE."""
    client = redis.Redis.from_url(svc.redis_url)
    conv_bytes = conv_n = bucket_bytes = bucket_fields = bucket_keys = 0
    for ns in namespaces:
        tags = "{" + ns + "|*}"  # every partition's keys
        for key in client.scan_iter(match=f"{tags}:c:*", count=5000):
            conv_bytes += client.memory_usage(key, samples=0) or 0
            conv_n += 1
        for key in client.scan_iter(match=f"{tags}:b:*", count=5000):
            bucket_bytes += client.memory_usage(key, samples=0) or 0
            bucket_fields += client.hlen(key)
            bucket_keys += 1
    return {"conversations": conv_n, "bytes_per_conversation": conv_bytes / max(conv_n, 1),
            "bucket_keys": bucket_keys, "bucket_fields": bucket_fields,
            "bytes_per_bucket_field": bucket_bytes / max(bucket_fields, 1),
            "used_memory_mb": client.info("memory")["used_memory"] / 2**20,
            "namespaces": len(namespaces)}


def forget_earlier_runs(svc: ServiceConfig) -> int:
    """Unlink the Redis namespaces earlier bench runs left (the preload marker stays)."""
    client = redis.Redis.from_url(svc.redis_url)
    n = 0
    for pattern in ("{bench*", "{lat*", "{mem*", "{rc*", "{prof*", "{cu*", "{bf*"):
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{pattern}:*", count=10_000):
            batch.append(key)
            if len(batch) >= 5000:
                n += client.unlink(*batch)
                batch.clear()
        if batch:
            n += client.unlink(*batch)
    return n


def _namespace_memory(client: redis.Redis, ns: str) -> dict[str, float]:
    out = {"conversations": 0.0, "conversation_bytes": 0.0, "buckets": 0.0,
           "bucket_bytes": 0.0, "queue_members": 0.0, "other_bytes": 0.0}
    for key in store_keys(client, ns):
        kind = key.decode().split("}:", 1)[1].split(":", 1)[0]
        size = client.memory_usage(key, samples=0) or 0
        if kind == "c":
            out["conversations"] += 1
            out["conversation_bytes"] += size
        elif kind == "b":
            out["buckets"] += 1
            out["bucket_bytes"] += size
        else:
            if kind in ("wait", "due"):
                out["queue_members"] += client.zcard(key)
            out["other_bytes"] += size
    return out


def memory_curve(svc: ServiceConfig, rate: int, seconds: float, tmp: Path,
                 every: float = 10.0) -> dict[str, Any]:
    """Namespace memory sampled while a steady stream runs longer than the (scaled) TTLs."""
    import threading

    ns = f"mem{uuid.uuid4().hex[:8]}"
    topics = (f"{ns}.tickets", f"{ns}.chats")
    env = worker_env(svc, ns, tmp, free_port(), **CURVE_SETTINGS)
    proc = subprocess.Popen([sys.executable, "-m", "supportkpi.cli", "worker"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp / f"{ns}.log", "wb"))  # noqa: SIM115
    client = redis.Redis.from_url(svc.redis_url)
    try:
        time.sleep(8)  # start-up, group join
        # one simulated hour compressed into `seconds`, sent at `rate` events/s
        th = threading.Thread(target=_paced_produce, args=(svc, topics, rate, seconds, {}),
                              kwargs={"seed": 5, "rate_per_min": rate * seconds / 5.5 / 60})
        t0 = time.time()
        th.start()
        samples = []
        while th.is_alive():
            time.sleep(every)
            m = _namespace_memory(client, ns)
            m["t"] = time.time() - t0
            samples.append(m)
            log(f"  t={m['t']:.0f}s conversations {m['conversations']:.0f} buckets "
                f"{m['buckets']:.0f} bytes {m['conversation_bytes'] + m['bucket_bytes']:,.0f}")
        th.join()
        return {"rate": rate, "seconds": seconds, "samples": samples,
                "rss_mb": rss_mb(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(30)


# ------------------------------------------------------------------ report


def per_round(all_: dict[str, list[Measure]], other: str) -> list[float]:
    """Ours against ``other`` in each round (the rounds interleave the variants)."""
    return [o.rate / x.rate for o, x in zip(all_["ours"], all_[other], strict=True)]


def median(ms: list[Measure]) -> Measure:
    return sorted(ms, key=lambda m: m.rate)[len(ms) // 2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000, help="history size to preload")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per variant (median)")
    ap.add_argument("--quick", action="store_true",
                    help="CI smoke test: 100k events (the worker's first fetches hold ~30k), "
                         "1 round")
    ap.add_argument("--kafka-port", type=int, default=19092)
    ap.add_argument("--redis-port", type=int, default=16379)
    ap.add_argument("--state-dir", type=Path, default=ROOT / ".cache/bench-services")
    ap.add_argument("--down", action="store_true", help="stop Kafka and Redis at the end")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks.md")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--latency-rates", type=lambda v: [int(x) for x in v.split(",")],
                    default=[100, 500, 2000, 10000],
                    help="paced rates (events/s) of the latency and CPU runs, "
                    "comma-separated")
    ap.add_argument("--latency-seconds", type=float, default=30.0)
    ap.add_argument("--only-latency", action="store_true", help="measure latency only")
    ap.add_argument("--only-streams", action="store_true",
                    help="measure only what 200 live wall streams cost, and update that "
                         "section of --out")
    ap.add_argument("--only-scrape", action="store_true",
                    help="measure only the read side (/metrics render against series, beside "
                         "generate_latest), and update that section of --out")
    ap.add_argument("--round-seconds", type=float, default=45.0,
                    help="time box of one round: a variant consumes the preloaded history "
                         "from the start until it has seen every event or this long")
    ap.add_argument("--curve-seconds", type=float, default=150.0,
                    help="length of the real-time memory curve run (scaled-down TTLs)")
    ap.add_argument("--curve-rate", type=int, default=1000, help="events/s of that run")
    ap.add_argument("--profile-events", type=int, default=80_000,
                    help="events of the timed run of the apply path (bench.profile_apply)")
    args = ap.parse_args(argv)
    if args.quick:
        args.events, args.rounds, args.round_seconds = 100_000, 1, 60.0
        args.latency_rates, args.latency_seconds = [300], 5.0
        args.curve_seconds, args.curve_rate, args.profile_events = 12.0, 100, 2000
    svc = ServiceConfig(state_dir=args.state_dir, kafka_port=args.kafka_port,
                        controller_port=args.kafka_port + 1, redis_port=args.redis_port)
    up(svc, log=log)
    try:
        return _run(args, svc)
    finally:
        if args.down:
            down(svc, log=log)


def _run(args: argparse.Namespace, svc: ServiceConfig) -> int:
    tmp = ROOT / ".cache/bench-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    if args.only_latency:
        for rate in args.latency_rates:
            print(latency_baseline(svc, rate, args.latency_seconds, tmp))
            print(latency(svc, rate, args.latency_seconds, tmp))
        return 0
    if args.only_scrape:
        return _scrape_only(args, svc)
    topics = (f"bench{args.events}.tickets", f"bench{args.events}.chats")
    log(f"unlinked {forget_earlier_runs(svc):,} Redis keys of earlier bench runs")
    n = preload(svc, args.events, 42, topics)
    if args.only_streams:
        return _streams_only(args, svc, topics, n, tmp)
    results: dict[str, list[Measure]] = {"ceiling": [], "baseline": [], "faust_batch": [],
                                         "ours": []}
    box = args.round_seconds
    for r in range(args.rounds):
        for name in results:
            log(f"round {r + 1}/{args.rounds}: {name}")
            m = {"ceiling": lambda: ceiling(svc, topics, n, box),
                 "baseline": lambda: baseline(svc, topics, n, tmp, box),
                 "faust_batch": lambda: baseline(svc, topics, n, tmp, box, "batch"),
                 "ours": lambda: ours(svc, topics, n, tmp, box)}[name]()
            log(f"  {m.rate:,.0f} events/s, {m.cpu_per_million:.1f} CPU-s per million")
            results[name].append(m)
    med = {k: median(v) for k, v in results.items()}
    mem = memory(svc, [m.namespace for m in results["ours"]])
    log(f"memory: {mem}")
    lats: list[dict[str, Any]] = []
    for rate in args.latency_rates:
        log(f"latency at {rate} events/s for {args.latency_seconds:g}s")
        lat_b = latency_baseline(svc, rate, args.latency_seconds, tmp)
        log(f"  plain Faust agent: p50 {lat_b['p50']:.3f}s p99 {lat_b['p99']:.3f}s")
        lat_ours = latency(svc, rate, args.latency_seconds, tmp)
        lats.append({**lat_ours, "baseline": lat_b})
        log(f"  ours: p50 {lat_ours['p50']:.3f}s p99 {lat_ours['p99']:.3f}s "
            f"max {lat_ours['max']:.3f}s")
    log("read side")
    # ~5k, 10k, 20k and 50k series
    rc = read_cost(svc, [1, 5, 10, 29] if not args.quick else [1, 5])
    log("worker memory in a catch-up (the preloaded day drained from the start)")
    catch_ups = [catch_up(svc, topics, n, tmp, budget, box=60.0 if args.quick else 240.0)
                 for budget in ([None] if args.quick else [384, None, 1024])]
    for c in catch_ups:
        log(f"  {describe_catch_up(c)}")
    from bench import backfill_memory

    log("Redis after a backfill of a simulated day, against the same floor's steady state")
    backfill = backfill_memory.render(
        backfill_memory.run(svc.redis_url, hours=2.0 if args.quick else 24.0),
        "python -m bench.run")
    log(f"memory curve: {args.curve_rate} events/s for {args.curve_seconds:g}s, scaled TTLs")
    curve = memory_curve(svc, args.curve_rate, args.curve_seconds, tmp)
    log(f"profile of the apply path ({args.profile_events} events)")
    prof = profile(svc.redis_url, args.profile_events,
                   batch=4000 if not args.quick else 1000)  # the default SUPPORT_BATCH_MAX
    from bench import long_conversation

    long_n = 2_000 if args.quick else 20_000
    log(f"long conversation against short ones ({long_n} events each)")
    longs = long_conversation.render(long_conversation.table(svc.redis_url, long_n), long_n)
    log("wall viewers: 200 live streams against none")
    viewers = wall_streams.render(_viewers(svc, topics, n, tmp, 1 if args.quick else 4),
                                  "python -m bench.run")
    args.redis_url = svc.redis_url
    sections = [render(args, n, med, results), render_more(lats, rc, mem),
                render_catch_up(catch_ups), backfill,
                render_curve(curve), render_targets(med, lats, rc, args, results),
                render_profile(prof, med), longs, viewers]
    analysis = ROOT / "bench" / "analysis.md"
    if analysis.exists():  # the reasons behind the numbers, written by hand after a run
        sections.append(analysis.read_text())
    report = "\n\n".join(part.strip() for part in sections) + "\n"
    print(report)
    if not args.no_write and not args.quick:

        old = args.out.read_text() if args.out.exists() else ""
        if SOAK_START in old:  # the soak's section (bench.soak) stays where it was
            report += "\n" + old[old.index(SOAK_START):old.index(SOAK_END)
                                  + len(SOAK_END)] + "\n"
        if CUSTOMERS_HEADING in old:  # bench.customers' section stays too
            start = old.index(CUSTOMERS_HEADING)
            end = old.find("\n## ", start + 3)
            report += "\n" + old[start:end if end >= 0 else len(old)].strip() + "\n"
        args.out.write_text(report)
        log(f"wrote {args.out}")
    return 0


def _viewers(svc: ServiceConfig, topics: tuple[str, str], n: int, tmp: Path, rounds: int
             ) -> dict[str, Any]:
    res = wall_streams.measure(svc, topics, n, tmp, 20.0, ours, free_port, rounds=rounds)
    log(f"  without {res['without']:,.0f} events/s, with 200 streams {res['with']:,.0f} "
        f"(x{res['ratio']:.2f})")
    return res


def _streams_only(args: argparse.Namespace, svc: ServiceConfig, topics: tuple[str, str],
                  n: int, tmp: Path) -> int:
    """Re-measure the wall-viewer section alone and put it in place of the old one."""
    section = wall_streams.render(_viewers(svc, topics, n, tmp, args.rounds),
                                  " ".join(["python -m bench.run", *sys.argv[1:]])).strip()
    print(section)
    if not args.no_write:
        replace_section(args.out, "## Wall viewers", section)
    return 0


def _scrape_only(args: argparse.Namespace, svc: ServiceConfig) -> int:
    """Re-measure the read side alone (``--only-scrape``) and put it in place of the old."""
    log("read side")
    rc = read_cost(svc, [1, 5, 10, 29] if not args.quick else [1, 5])
    section = render_read_side(rc, " ".join(["python -m bench.run", *sys.argv[1:]]))
    print(section)
    if not args.no_write:
        replace_section(args.out, "## Read side", section)
    return 0


def replace_section(out: Path, heading: str, section: str) -> None:
    """Put ``section`` in place of the one starting with ``heading`` (appended if none)."""
    if not out.exists():
        return
    old = out.read_text()
    start = old.find(heading)
    if start < 0:
        new = old.rstrip() + "\n\n" + section.strip() + "\n"
    else:
        end = old.find("\n## ", start + 3)
        new = old[:start] + section.strip() + "\n" + (old[end:] if end >= 0 else "")
    out.write_text(new)
    log(f"wrote the {heading[3:].lower()} section of {out}")


def render(args: argparse.Namespace, n: int, med: dict[str, Measure],
           all_: dict[str, list[Measure]]) -> str:
    o, b, c = med["ours"], med["baseline"], med["ceiling"]
    lines = [
        "| variant | events/s: min / median / max | rounds (in order) | events seen per round "
        "| CPU-s per million events (median round) |",
        "|---|---|---|---|---|",
    ]
    for k, label in (("ceiling", "ceiling: raw aiokafka + the worker's decoder (msgspec into "
                                 "`streams.wire.Wire`)"),
                     ("baseline", "baseline: plain Faust agent, decode and drop "
                      "(`take(1000, within=0.2)`, no leader topic)"),
                     ("faust_batch", "Faust ceiling: the batch transport, decode and drop"),
                     ("ours", "ours: the real worker (all KPIs, windows, dimensions, Lua)")):
        rates = [m.rate for m in all_[k]]
        rounds = ", ".join(f"{r:,.0f}" for r in rates)
        seen = ", ".join(f"{m.events:,}" for m in all_[k])
        lines.append(f"| {label} | {min(rates):,.0f} / {med[k].rate:,.0f} / {max(rates):,.0f} "
                     f"| {rounds} | {seen} | {med[k].cpu_per_million:.1f} |")
    vs_b = per_round(all_, "baseline")
    vs_c = per_round(all_, "ceiling")
    lines += [
        "",
        "The variants run in interleaved rounds (round 1 of each, then round 2 of each, ...), "
        "so a ratio is taken within a round, under the same conditions:",
        "",
        f"* ours / ceiling per round: {', '.join(f'{x:.3f}' for x in vs_c)} (target ≥ 0.15 "
        "in every round)",
        f"* ours / baseline per round: {', '.join(f'{x:.2f}' for x in vs_b)} (target ≥ 3.0 "
        "in every round)",
        f"* Faust ceiling / baseline = {med['faust_batch'].rate / b.rate:.2f}; "
        f"Faust ceiling / raw ceiling = {med['faust_batch'].rate / c.rate:.2f}",
        f"* catch-up: ours drains a backlog at {o.rate:,.0f} events/s, so "
        f"{n:,} events take ~{n / o.rate:,.0f} s"
        + ("" if o.events >= n else " (extrapolated: the round's time box ended first)"),
        f"* Redis commands per event (ours): {o.extra['redis_calls_per_event']:.3f}; "
        f"Lua script calls per event: {o.extra['lua_calls_per_event']:.4f}; Redis CPU-s per "
        f"million events: {o.extra['redis_cpu_per_million']:.1f}",
    ]
    machine = (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
               f"{platform.python_version()}")
    from importlib.metadata import version

    versions = ", ".join(f"{p} {version(p)}" for p in ("faust-streaming", "aiokafka", "redis",
                                                       "prometheus-client"))
    command = " ".join(["python -m bench.run", *sys.argv[1:]])
    return "\n".join([
        "# Benchmarks", "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{versions}; Apache Kafka 4.1.1 (KRaft, one node) and redis-server "
        f"{redis.Redis.from_url(args.redis_url).info('server')['redis_version']} on the "
        "same machine.", "",
        "## Throughput", "",
        f"{n:,} simulated events (seed 42) preloaded once into two 4-partition topics; each "
        "variant consumes them from the start with a fresh consumer group until it has seen "
        f"all of them or for {args.round_seconds:g} s (the round's time box; rate = events "
        "seen / time from its first event). Machine: "
        f"{machine}; Kafka 4.1.1 and redis-server on the same machine.", "",
        *lines, ""])


def render_more(lats: list[dict[str, Any]], rc: list[dict[str, float]],
                mem: dict[str, float]) -> str:
    seconds = lats[0]["seconds"]
    lines = ["## Event-to-metric latency and CPU at floor rates (steady state)", "",
             f"A paced producer (librdkafka through confluent-kafka, ~4 µs of CPU per "
             "message, so it does not take the worker's core) sends a steady floor's mix "
             f"for {seconds:g} s, in groups due every {SEND_EVERY_S * 1000:g} ms, "
             "`occurred_at` set at send time; events sent in the first "
             f"{STEADY_AFTER_S:g} s are left out (the steady state). **Per event**: the "
             "broker's delivery report gives each event's partition and offset, and a probe "
             f"reads the store's applied offset of every partition from Redis every "
             f"{PROBE_EVERY_S * 1000:g} ms (the batch script moves it in the same atomic call "
             "that changes the windows, so every KPI of an event is visible when its offset "
             "is): an event's latency is from its send to the first probe that sees it "
             "(so up to 5 ms high). Every event of the steady part is measured. The older "
             "method is beside it: polling `/metrics?name[]=support_last_event_timestamp_"
             "seconds` every 0.5 s for the newest event's age (a few samples a second: its "
             "p99 is a few samples; polled no faster so that the probe does not add to the "
             "worker CPU measured). A full `/metrics` scrape runs every 5 s meanwhile, as a "
             "Prometheus would. *Drain* is the time from the producer's last send until "
             "that event is visible; *sent at* is the rate the producer really achieved; "
             "*worker CPU* is the worker's CPU time over the run's wall time (1.0 = a whole "
             "core), and per million events at that rate.", "",
             "The same paced stream also went into a plain Faust agent that only decodes "
             "each event and notes its age on arrival (`bench/faust_latency.py`): Faust's "
             "own share of the latency, with no KPI work and no Redis.", "",
             "| rate (events/s) | sent | sent at (events/s) | variant | events measured | "
             "p50 | p99 | max | newest-age poll p50 / p99 | drain | worker CPU | CPU-s per "
             "million | full scrape (p50) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for lat in lats:
        b = lat["baseline"]
        lines += [
            f"| {lat['rate']:,} | {b['sent']:,.0f} | {b['achieved']:,.0f} | "
            "plain Faust agent (age on arrival) | "
            f"{b['events']:,.0f} | {b['p50']:.3f} s | {b['p99']:.3f} s | {b['max']:.3f} s | "
            "– | – | – | – | – |",
            f"| {lat['rate']:,} | {lat['sent']:,.0f} | {lat['achieved']:,.0f} | "
            "ours (visible in the store) | "
            f"{lat['events']:,.0f} | {lat['p50']:.3f} s | {lat['p99']:.3f} s | "
            f"{lat['max']:.3f} s | {lat['metrics_p50']:.3f} / {lat['metrics_p99']:.3f} s | "
            f"{lat['drain_s']:.2f} s | {lat['worker_cpu']:.2f} | "
            f"{lat['cpu_per_million']:.0f} | {lat['scrape_p50']:.3f} s |"]
    lines += ["", render_read_side(rc, None)]
    lines += ["", "## Redis memory after the throughput runs (a 24h simulated history)", "",
              f"* {mem['conversations']:,.0f} conversation states, "
              f"{mem['bytes_per_conversation']:.0f} bytes each",
              f"* {mem['bucket_keys']:,.0f} bucket hashes holding {mem['bucket_fields']:,.0f} "
              f"fields, {mem['bytes_per_bucket_field']:.1f} bytes per field",
              f"* used_memory {mem['used_memory_mb']:.0f} MiB (the {mem['namespaces']:.0f} rounds' "
              "namespaces)", ""]
    return "\n".join(lines)


def render_read_side(rc: list[dict[str, float]], command: str | None) -> str:
    lines = ["## Read side: /metrics against exported series", ""]
    if command:  # measured alone, after the rest of this file
        lines += [f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
                  "; the rest of this file is from the run named at the top).", ""]
    lines += [
             "Synthetic floors with more queues (every dimension set of every window), written "
             f"into {READ_PARTITIONS} partitions as the worker would (a scrape merges them); "
             "render = the worker's whole `/metrics` body in process (reading Redis, summing "
             "the buckets, writing the text: `serve.exposition`; median of 5), beside "
             "prometheus_client's own `generate_latest` on a registry of as many plain "
             "gauges with the same labels, the two interleaved in each of the 5 rounds (the "
             "ratio is per round: min, median, max); reads = Redis commands per scrape; "
             "served = what each of two scrapers scraping every interval waits with "
             "`SUPPORT_METRICS_CACHE` (serve/scrape.py: a render over 0.1 s is shared, made "
             "again ahead of the next scrape, and never waited for once one exists; median "
             "of 5 intervals).",
             "",
             "| queues | series | render | per series | generate_latest per series | ratio "
             "(min / median / max) | served to a scraper | Redis reads | read 5m | "
             "read 15m | read 1h | read 24h |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rc:
        lines.append(f"| {r['queues']:.0f} | {r['series']:,.0f} | {r['render_ms']:.0f} ms | "
                     f"{r['us_per_series']:.1f} µs | {r['plain_us_per_series']:.1f} µs | "
                     f"{r['ratio_min']:.2f} / {r['ratio_median']:.2f} / {r['ratio_max']:.2f} | "
                     f"{r['served_ms']:.1f} ms | "
                     f"{r['redis_reads']:.0f} | {r['read_5m_ms']:.0f} ms | "
                     f"{r['read_15m_ms']:.0f} ms | {r['read_1h_ms']:.0f} ms | "
                     f"{r['read_24h_ms']:.0f} ms |")
    return "\n".join(lines)


def render_catch_up(runs: list[CatchUp]) -> str:
    from supportkpi.settings import load_settings

    default = load_settings().memory_budget_mb
    lines = ["## Worker memory in a catch-up", "",
             "The preloaded day drained from the start by one worker (`bench.catch_up`), its "
             "RSS sampled every 0.25 s: a catch-up holds the most at once (full fetch and "
             "stream buffers, the largest batches, a view cache filling fast). "
             "`SUPPORT_MEMORY_BUDGET_MB` sizes those (`streams.config.memory_plan`); the peak "
             "is what a container limit must cover.", "",
             "| SUPPORT_MEMORY_BUDGET_MB | events | events/s | peak RSS | RSS at the end |",
             "|---|---|---|---|---|"]
    for c in runs:
        budget = f"{c.budget_mb}" if c.budget_mb else f"{default} (default)"
        lines.append(f"| {budget} | {c.events:,} | {c.rate:,.0f} | {c.peak_rss_mb:.0f} MiB | "
                     f"{c.end_rss_mb:.0f} MiB |")
    return "\n".join(lines) + "\n"


def render_curve(curve: dict[str, Any]) -> str:
    lines = ["## Memory over time: TTLs keep it bounded", "",
             f"A steady {curve['rate']:,} events/s for {curve['seconds']:g} s (one simulated "
             "hour compressed into that time) with the TTLs scaled down so that minutes show "
             "what days do with the defaults: "
             + ", ".join(f"`{k}={v}`" for k, v in CURVE_SETTINGS.items())
             + ". A bucket lives for its window + one bucket + the margin after its last "
             "write (71 s here) and a conversation's state for the conversation TTL after "
             "its last event (60 s here); memory should rise for about that long and then "
             "stay flat.", "",
             "| t | conversation states | bytes | bucket hashes | bytes | waiting members |"
             " other keys' bytes |",
             "|---|---|---|---|---|---|---|"]
    for m in curve["samples"]:
        lines.append(f"| {m['t']:.0f} s | {m['conversations']:,.0f} | "
                     f"{m['conversation_bytes']:,.0f} | {m['buckets']:,.0f} | "
                     f"{m['bucket_bytes']:,.0f} | {m['queue_members']:,.0f} | "
                     f"{m['other_bytes']:,.0f} |")
    lines += ["", f"Worker RSS at the end: {curve['rss_mb']:.0f} MiB.", ""]
    return "\n".join(lines)


def render_targets(med: dict[str, Measure], lats: list[dict[str, Any]],
                   rc: list[dict[str, float]], args: argparse.Namespace,
                   all_: dict[str, list[Measure]]) -> str:
    o, b, c = med["ours"], med["baseline"], med["ceiling"]
    vs_b, vs_c = per_round(all_, "baseline"), per_round(all_, "ceiling")
    near10k = min(rc, key=lambda r: abs(r["series"] - 10_000))
    first, last = rc[0], rc[-1]
    per_series = [r["render_ms"] / r["series"] * 1000 for r in rc]

    def status(ok: bool) -> str:
        return "met" if ok else "**missed** (profile and reason below)"

    rows = [
        ("ours ≥ 3.0 × the plain Faust agent in every round",
         f"{min(vs_b):.2f}–{max(vs_b):.2f} × per round (medians {o.rate:,.0f} vs "
         f"{b.rate:,.0f} events/s)", status(min(vs_b) >= 3.0)),
        ("ours ≥ 15% of the raw ceiling (the worker's decoder) in every round",
         f"{min(vs_c):.1%}–{max(vs_c):.1%} per round (medians {o.rate:,.0f} vs "
         f"{c.rate:,.0f} events/s)", status(min(vs_c) >= 0.15)),
        *[(f"CPU per event at {lat['rate']:,} events/s within 3 × the drain's",
           f"{lat['cpu_per_million']:.0f} vs {o.cpu_per_million:.0f} CPU-s per million: "
           f"{lat['cpu_per_million'] / o.cpu_per_million:.1f} ×",
           status(lat["cpu_per_million"] <= 3 * o.cpu_per_million))
          for lat in lats if lat["rate"] == 500],
        *[(f"steady-state p99 event-to-metric latency < {LATENCY_TARGETS.get(lat['rate'], 1.0):g}"
           f" s at {lat['rate']:,} events/s",
           f"p99 {lat['p99']:.2f} s (p50 {lat['p50']:.2f} s); {lat['sent']:,.0f} sent",
           status(lat["p99"] < LATENCY_TARGETS.get(lat["rate"], 1.0))) for lat in lats],
        ("/metrics for 10k series < 100 ms (a render shared for its scrape interval)",
         f"{near10k['served_ms']:.1f} ms served from the shared render for "
         f"{near10k['series']:,.0f} series (the render itself {near10k['render_ms']:.0f} ms, "
         "made ahead of the scrape)", status(near10k["served_ms"] < 100)),
        ("/metrics no worse than linear in series",
         f"{first['series']:,.0f} → {first['render_ms']:.0f} ms … {last['series']:,.0f} → "
         f"{last['render_ms']:.0f} ms ({min(per_series):.0f}–{max(per_series):.0f} µs per "
         "series)", status(per_series[-1] <= 1.25 * per_series[0])),
        ("/metrics cost independent of window length",
         "every window reads the same number of buckets (60); read time follows the fields "
         "per bucket", "met by construction"),
        *[(f"/metrics per series ≤ 1.2 × prometheus_client's generate_latest "
           f"({r['series']:,.0f} series)",
           f"{r['us_per_series']:.1f} vs {r['plain_us_per_series']:.1f} µs: "
           f"{r['ratio_median']:.2f} × (rounds {r['ratio_min']:.2f}–{r['ratio_max']:.2f})",
           status(r["ratio_max"] <= 1.2)) for r in rc],
        *[("a scrape of ~20k series served well inside a 5 s scrape timeout",
           f"{r['served_ms']:.1f} ms ({r['series']:,.0f} series; the render "
           f"{r['render_ms']:.0f} ms, made ahead)", status(r["served_ms"] < 1000))
          for r in rc if 15_000 <= r["series"] <= 30_000],
    ]
    lines = ["## Targets", "", "| target | measured (this run) | status |", "|---|---|---|"]
    lines += [f"| {a} | {m} | {st} |" for a, m, st in rows]
    return "\n".join([*lines, ""]) + "\n"


def render_profile(prof: Profile, med: dict[str, Measure]) -> str:
    o, b = med["ours"], med["baseline"]
    lines = ["## Where the time goes (profile)", "",
             f"`python -m bench.profile_apply --events {prof.events} --batch {prof.batch}` "
             "(validate + apply of a floor as dense as the preload's, 4 partitions of 2 topics, "
             f"batches of {prof.batch:,}, Kafka excluded; the KPI core and the batch planning "
             "are compiled, so phases are timed where the writer calls them instead of under "
             "cProfile): "
             f"worker CPU per event **{prof.validate_us:.1f} µs validate + "
             f"{prof.apply_us:.1f} µs apply = {prof.validate_us + prof.apply_us:.1f} µs** "
             f"(target 25 µs); Redis CPU per event {prof.redis_us:.1f} µs; apply wall time "
             f"{prof.apply_wall_us:.1f} µs per event. Phases (wall time; the two Redis calls "
             "include waiting for Redis):", "",
             "| phase | µs per event |", "|---|---|"]
    lines += [f"| {label} | {us:.1f} |" for label, us in prof.phases]
    lines += ["", "Redis commands per event (INFO commandstats; the script's own calls "
              "included): " + ", ".join(f"{c} {v:.2f}" for c, v in prof.commands[:12]) + ".",
              "", f"In the throughput runs the plain Faust agent spends "
              f"{b.cpu_per_million:.0f} CPU-s per million events consuming and decoding and the "
              f"real worker {o.cpu_per_million:.0f} (all of it: Faust, the batch transport, "
              f"validation, KPIs, redis-py), plus {o.extra['redis_cpu_per_million']:.0f} in "
              "Redis, on a machine whose two cores also run the broker.", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
