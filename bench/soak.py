"""Soak: a steady stream for a long time, recording whether anything creeps up.

    python -m bench.soak                    # 2 hours at 300 events/s (the recorded run)
    python -m bench.soak --minutes 3        # a short look

One real worker consumes a paced simulated floor (occurred_at = send time) from the bench's
own Kafka and Redis (ports 19092/16379, as ``bench.run``). Every ``--every`` seconds it
samples the worker's RSS, Redis's ``used_memory`` and the store's key counts, and the
consumer lag (Kafka end offsets minus the offsets Redis says are applied). The TTLs are
scaled down (the same settings as the memory curve of ``bench.run``) so that a steady
state (every key's TTL running out as fast as new ones come) arrives after about two
minutes instead of eight days; the rest of the run shows whether it stays there.

"Flat" is judged on the run after warm-up: the least-squares slope of each series,
extrapolated over an hour, compared with its mean; the worker's RSS must also stay within
5 MiB/h. The worker's commit bookkeeping (``support_commit_backlog``: what it keeps to
commit offsets, which grew by every batch before issue 32) is sampled alongside, and the
store's bytes per open conversation and per bucket field are measured with the default
settings (``bench.store_memory``). The result replaces the "Soak" section of
docs/benchmarks.md (``bench.run`` keeps that section when it rewrites the file).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.common import (
    CURVE_SETTINGS,
    ROOT,
    SOAK_END,
    SOAK_START,
    free_port,
    log,
    partition_hashes,
    rss_mb,
    store_keys,
    worker_env,
)
from bench.store_memory import describe as describe_store
from bench.store_memory import run as store_memory
from devtools import simulate as sim
from devtools.services import ServiceConfig, up
from windows.keys import Keys

WARM_UP_S = 180.0
RSS_SLOPE_MAX_MB_H = 5.0  # issue 32: flat after warm-up
# the commit bookkeeping holds what is delivered between two commits (1 s): at a live rate
# a batch per partition per fetch (50 ms), on 8 partitions of 2 topics, and the buffers
BOOKKEEPING_MAX = 400


def produce(svc: ServiceConfig, topics: tuple[str, str], rate: int, seconds: float,
            stop: threading.Event, sent: dict[str, int]) -> None:
    """Paced events, generated five simulated minutes at a time (bounded memory)."""
    p = KafkaProducer(bootstrap_servers=svc.bootstrap, linger_ms=5, acks=1)
    per_min = rate * 60 / 5.5  # ~5.5 events per conversation: `rate` events/s in real time
    t0 = time.time()
    i = k = 0
    try:
        while not stop.is_set():
            start = int(time.time() * 1000)
            chunk = sim.generate(sim.FloorParams(seed=11, rate_per_min=per_min), start,
                                 start + 300_000, chunk=f"soak{k}")
            k += 1
            for topic, key, value in sim.route(chunk, *topics):
                due = t0 + i / rate
                if due > t0 + seconds or stop.is_set():
                    return
                delay = due - time.time()
                if delay > 0:
                    time.sleep(delay)
                doc = json.loads(value)
                doc["occurred_at"] = time.time()
                p.send(topic, key=key, value=json.dumps(doc).encode())
                i += 1
                sent["n"] = i
    finally:
        p.flush()
        p.close()


def lag(consumer: KafkaConsumer, client: redis.Redis, ns: str, topics: tuple[str, str]) -> int:
    tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t)
                                                                 or [])]
    ends = consumer.end_offsets(tps)
    applied = {f: v for h in partition_hashes(client, ns, "offsets") for f, v in h.items()}
    total = 0
    for tp in tps:
        last = applied.get(f"{tp.topic}:{tp.partition}".encode())
        total += max(0, ends[tp] - (int(last) + 1 if last is not None else 0))
    return total


def key_counts(client: redis.Redis, ns: str) -> dict[str, float]:
    """Keys of the soak's store by kind, and their memory (MEMORY USAGE summed): the
    store's own footprint, whatever else the bench's Redis holds."""
    out: dict[str, float] = {"conversations": 0, "buckets": 0, "other": 0, "store_bytes": 0}
    keys = store_keys(client, ns)
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    for key, size in zip(keys, pipe.execute(), strict=True):
        kind = key.decode().split("}:", 1)[1].split(":", 1)[0]
        out["conversations" if kind == "c" else "buckets" if kind == "b" else "other"] += 1
        out["store_bytes"] += size or 0
    parts = [Keys(ns).of(f.decode()) for f in client.hkeys(Keys(ns).partitions)]
    out["live"] = sum(client.zcard(k.live) for k in parts)
    out["waiting"] = sum(client.zcard(k.waiting("*")) for k in parts)
    return out


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def slope_per_hour(ts: list[float], ys: list[float]) -> float:
    n = len(ts)
    if n < 2:
        return 0.0
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts)
    return 0.0 if var == 0 else sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)
                                    ) / var * 3600


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=120.0, help="length of the steady stream")
    ap.add_argument("--rate", type=int, default=300, help="events per second")
    ap.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    ap.add_argument("--kafka-port", type=int, default=19092)
    ap.add_argument("--redis-port", type=int, default=16379)
    ap.add_argument("--state-dir", type=Path, default=ROOT / ".cache/bench-services")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks.md")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    svc = ServiceConfig(state_dir=args.state_dir, kafka_port=args.kafka_port,
                        controller_port=args.kafka_port + 1, redis_port=args.redis_port)
    up(svc, log=log)
    ns = f"soak{uuid.uuid4().hex[:8]}"
    topics = (f"{ns}.tickets", f"{ns}.chats")
    tmp = ROOT / ".cache/bench-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = worker_env(svc, ns, tmp, port, **CURVE_SETTINGS)
    worker = subprocess.Popen([sys.executable, "-m", "supportkpi.cli", "worker"], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL,
                              stderr=open(tmp / f"{ns}.log", "wb"))  # noqa: SIM115
    client = redis.Redis.from_url(svc.redis_url)
    consumer = KafkaConsumer(bootstrap_servers=svc.bootstrap)
    stop = threading.Event()
    sent: dict[str, int] = {"n": 0}
    seconds = args.minutes * 60
    samples: list[dict[str, float]] = []
    try:
        time.sleep(8)  # start-up and group join
        th = threading.Thread(target=produce, args=(svc, topics, args.rate, seconds, stop, sent))
        t0 = time.time()
        th.start()
        while th.is_alive():
            time.sleep(args.every)
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited ({worker.returncode}); see {tmp}/{ns}.log")
            info = client.info("memory")
            row: dict[str, float] = {"t": time.time() - t0, "sent": sent["n"],
                                     "rss_mb": rss_mb(worker.pid),
                                     "redis_mb": info["used_memory"] / 2**20,
                                     "lag": lag(consumer, client, ns, topics),
                                     "cpu_s": _cpu_s(worker.pid),
                                     "bookkeeping": commit_backlog(port),
                                     **key_counts(client, ns)}
            row["store_mb"] = row.pop("store_bytes") / 2**20
            samples.append(row)
            log(f"t={row['t']:.0f}s sent {row['sent']:,.0f} lag {row['lag']:,.0f} rss "
                f"{row['rss_mb']:.0f} MiB store {row['store_mb']:.1f} MiB (redis "
                f"{row['redis_mb']:.1f}) conversations {row['conversations']:,.0f} live "
                f"{row['live']:,.0f} worker cpu {row['cpu_s']:.0f}s")
        th.join()
    finally:
        stop.set()
        worker.terminate()
        worker.wait(60)
        consumer.close()
    store = describe_store(store_memory(svc.redis_url))
    log(f"store memory: {store}")
    report = render(args, samples, env, store)
    print(report)
    if not args.no_write:
        write_section(args.out, report)
        log(f"wrote the Soak section of {args.out}")
    return 0


def commit_backlog(port: int) -> float:
    """The worker's support_commit_backlog (NaN when /metrics does not answer)."""
    import urllib.request

    url = f"http://127.0.0.1:{port}/metrics?name[]=support_commit_backlog"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("support_commit_backlog "):
                    return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def render(args: argparse.Namespace, samples: list[dict[str, float]],
           env: dict[str, str], store: str) -> str:
    steady = [s for s in samples if s["t"] >= WARM_UP_S]
    lines = [
        f"## Soak: {args.minutes / 60:g} hours at a steady rate" if args.minutes >= 60 else
        f"## Soak: {args.minutes:g} minutes at a steady rate",
        "",
        f"Command: `python -m bench.soak --minutes {args.minutes:g} --rate {args.rate}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}).",
        "",
        f"One worker, {args.rate} events/s for {args.minutes:g} minutes (occurred_at = send "
        "time), TTLs scaled down so the steady state arrives in about two minutes: "
        + ", ".join(f"`{k}={v}`" for k, v in CURVE_SETTINGS.items() if k in env) + ".",
        "",
        "Store memory is the sum of `MEMORY USAGE` over the store's own keys; Redis used "
        "memory is the whole server's (the bench's Redis also holds earlier runs' keys).",
        "",
        "| t | sent | lag (events) | worker RSS MiB | commit bookkeeping | store MiB | "
        "Redis used MiB | conversation keys | bucket keys | live conversations |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    step = max(1, len(samples) // 30)
    for s in samples[::step]:
        lines.append(f"| {s['t']:.0f} s | {s['sent']:,.0f} | {s['lag']:,.0f} | "
                     f"{s['rss_mb']:.0f} | {s['bookkeeping']:,.0f} | {s['store_mb']:.1f} | "
                     f"{s['redis_mb']:.1f} | {s['conversations']:,.0f} | "
                     f"{s['buckets']:,.0f} | {s['live']:,.0f} |")
    lines += ["", f"After the {WARM_UP_S:.0f} s warm-up ({len(steady)} samples):", "",
              "| series | mean | min | max | trend per hour | flat |", "|---|---|---|---|---|---|"]
    for name, key, tol in (("worker RSS (MiB)", "rss_mb", 0.10),
                           ("commit bookkeeping (entries)", "bookkeeping", None),
                           ("store memory (MiB)", "store_mb", 0.10),
                           ("conversation keys", "conversations", 0.10),
                           ("live conversations", "live", 0.10),
                           ("consumer lag (events)", "lag", None)):
        ys = [s[key] for s in steady]
        if not ys:
            continue
        mean = sum(ys) / len(ys)
        trend = slope_per_hour([s["t"] for s in steady], ys)
        # lag is flat when it stays within two seconds of traffic; the bookkeeping when it
        # stays within what one commit interval delivers; RSS within 5 MiB/h
        flat = (max(ys) <= 2 * args.rate if key == "lag" else max(ys) <= BOOKKEEPING_MAX
                if key == "bookkeeping" else abs(trend) <= RSS_SLOPE_MAX_MB_H
                if key == "rss_mb" else abs(trend) <= (tol or 0) * max(mean, 1e-9))
        lines.append(f"| {name} | {mean:,.1f} | {min(ys):,.1f} | {max(ys):,.1f} | "
                     f"{trend:+,.1f} | {'yes' if flat else '**no**'} |")
    lines += ["", "Flat means: worker RSS trends by at most 5 MiB an hour (least squares); "
              "store memory and keys within 10% of their mean an hour; the commit "
              f"bookkeeping never above {BOOKKEEPING_MAX} entries (what one commit interval "
              "delivers: 20 fetches a second on each of 8 partitions of 2 topics, plus the "
              "stream buffers); the lag never above two seconds of traffic.", "",
              f"Store memory with the default settings (`python -m bench.store_memory`, run "
              f"by the soak): {store}."]
    if len(samples) >= 2:
        first, last = samples[0], samples[-1]
        cpu = (last["cpu_s"] - first["cpu_s"]) / max(last["t"] - first["t"], 1e-9)
        lines += ["", f"Worker CPU: {cpu:.0%} of one core at {args.rate} events/s "
                  f"({cpu / args.rate * 1e6:,.0f} CPU-s per million events; at this rate "
                  "batches are small, so the per-batch cost dominates)."]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else ""
    block = f"{SOAK_START}\n{section.strip()}\n{SOAK_END}"
    pattern = re.compile(re.escape(SOAK_START) + ".*?" + re.escape(SOAK_END), re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else \
        text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
