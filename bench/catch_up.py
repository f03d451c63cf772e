"""Worker memory in a catch-up: a day of backlog (``bench.run``'s preload, 1,000,000
events) drained by one real worker from the start, its RSS sampled every 0.25 s.

    .venv/bin/python -m bench.catch_up                       # the default budget
    .venv/bin/python -m bench.catch_up --budget 384 --budget 768

A catch-up holds the most at once: full fetch buffers, full stream buffers, the largest
batches and a view cache filling fast. Its peak RSS against ``SUPPORT_MEMORY_BUDGET_MB``
is what a container limit must cover (docs/operations.md, "Sizing"); ``bench.run`` runs
it too and writes the result into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.common import ROOT, drop_store, log, partition_hashes, rss_mb, worker_env
from bench.preload import preload
from devtools.services import ServiceConfig, up


@dataclass(frozen=True)
class CatchUp:
    budget_mb: int | None  # None: the default
    events: int
    seconds: float
    peak_rss_mb: float
    end_rss_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _applied(client: redis.Redis, ns: str) -> int:
    return sum(int(v) for vals in partition_hashes(client, ns, "stats")
               for k, v in vals.items()
               if k.startswith((b"processed:", b"rejected:", b"duplicate:", b"late:")))


def catch_up(svc: ServiceConfig, topics: tuple[str, str], n: int, tmp: Path,
             budget_mb: int | None = None, box: float = 240.0) -> CatchUp:
    ns = f"cu{uuid.uuid4().hex[:8]}"
    extra = {"SUPPORT_MEMORY_BUDGET_MB": str(budget_mb)} if budget_mb else {}
    env = worker_env(svc, ns, tmp, 0, SUPPORT_TOPIC_TICKETS=topics[0],
                     SUPPORT_TOPIC_CHATS=topics[1], SUPPORT_ALLOWED_LATENESS="24h", **extra)
    client = redis.Redis.from_url(svc.redis_url)
    with open(tmp / f"{ns}.log", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "supportkpi.cli", "worker"], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        peak, t0, done = 0.0, time.perf_counter(), 0
        while done < n and time.perf_counter() - t0 < box:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited; see {tmp / ns}.log")
            peak = max(peak, rss_mb(proc.pid))
            done = _applied(client, ns)
            time.sleep(0.25)
        return CatchUp(budget_mb, done, time.perf_counter() - t0, peak, rss_mb(proc.pid))
    finally:
        proc.terminate()
        proc.wait(30)
        drop_store(client, ns)  # a day's store each: later measurements share this Redis


def describe(c: CatchUp) -> str:
    budget = f"{c.budget_mb} MiB" if c.budget_mb else "default"
    return (f"budget {budget}: {c.events:,} events in {c.seconds:.0f} s ({c.rate:,.0f}/s), "
            f"peak RSS {c.peak_rss_mb:.0f} MiB, at the end {c.end_rss_mb:.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--budget", type=int, action="append", default=[],
                    help="SUPPORT_MEMORY_BUDGET_MB to run with (repeat; default: the default)")
    ap.add_argument("--kafka-port", type=int, default=19092)
    ap.add_argument("--redis-port", type=int, default=16379)
    ap.add_argument("--state-dir", type=Path, default=ROOT / ".cache/bench-services")
    args = ap.parse_args()
    svc = ServiceConfig(state_dir=args.state_dir, kafka_port=args.kafka_port,
                        controller_port=args.kafka_port + 1, redis_port=args.redis_port)
    up(svc, log=log)
    tmp = ROOT / ".cache/bench-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    topics = (f"bench{args.events}.tickets", f"bench{args.events}.chats")
    n = preload(svc, args.events, 42, topics)
    for budget in args.budget or [None]:
        print(describe(catch_up(svc, topics, n, tmp, budget)), flush=True)


if __name__ == "__main__":
    main()
