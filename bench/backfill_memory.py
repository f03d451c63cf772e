"""Redis memory after a backfill against the same floor's steady state (issue 37).

A simulated day ending now is applied in order through the real writer into a fresh
namespace of a real redis-server, in batches per partition as a worker drains a backlog;
every key is then sized with ``MEMORY USAGE`` and grouped (conversation states, live-gauge
structures, buckets per size, the rest), once right after the backfill and once after
``SUPPORT_BUCKET_TTL_MARGIN`` (scaled down here to ``--margin`` seconds so the run does
not wait 10 minutes; longer than the backfill takes, so that the first measure still holds
every bucket the backfill retired). The second is what a live floor holds at the same clock: the
windows' own buckets, no 5-s or 1-min bucket of the hours before (they are retired when the
partition's clock passes their windows). Before the retirement every bucket of the day
lived its TTL from the write: 15 min for 5-s buckets, 71 min for 1-min ones.

    .venv/bin/python -m bench.backfill_memory --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import uuid
from dataclasses import dataclass

import redis

from bench.common import drop_store, store_keys
from bench.store_memory import LIVE_KINDS, apply_floor
from supportkpi.settings import load_settings


@dataclass(frozen=True)
class Sizes:
    """Bytes of a namespace by kind of key."""

    states: int
    live: int
    buckets: dict[int, int]  # bucket size (ms) -> bytes
    other: int

    @property
    def total(self) -> int:
        return self.states + self.live + sum(self.buckets.values()) + self.other


def measure(client: redis.Redis, ns: str) -> Sizes:
    states = live = other = 0
    buckets: dict[int, int] = {}
    for key in store_keys(client, ns):
        name = key.decode().split("}:", 1)[1]
        size = client.memory_usage(key, samples=0) or 0
        kind = name.split(":", 1)[0]
        if kind == "c":
            states += size
        elif kind in LIVE_KINDS:
            live += size
        elif kind == "b":
            res = int(name.split(":")[1])
            buckets[res] = buckets.get(res, 0) + size
        else:
            other += size
    return Sizes(states, live, buckets, other)


def run(redis_url: str, hours: float = 24.0, rate: float = 20.0, margin_s: float = 60.0
        ) -> dict[str, object]:
    ns = "bf" + uuid.uuid4().hex[:8]
    cfg = dataclasses.replace(load_settings().kpi_config(),
                              bucket_ttl_margin_ms=int(margin_s * 1000))
    t0 = time.perf_counter()
    events = apply_floor(redis_url, ns, hours, rate, batch=4000, cfg=cfg)
    applied_s = time.perf_counter() - t0
    client = redis.Redis.from_url(redis_url)
    try:
        after = measure(client, ns)
        time.sleep(margin_s + 1.0)
        settled = measure(client, ns)
    finally:
        drop_store(client, ns)
        client.close()
    return {"hours": hours, "rate": rate, "margin_s": margin_s, "events": events,
            "applied_s": applied_s, "after": after, "settled": settled}


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def render(r: dict[str, object], command: str) -> str:
    after, settled = r["after"], r["settled"]
    assert isinstance(after, Sizes) and isinstance(settled, Sizes)
    sizes = sorted(set(after.buckets) | set(settled.buckets))
    names = {5_000: "5-s", 60_000: "1-min", 1_440_000: "24-min"}
    lines = ["## Redis after a backfill", "",
             f"A simulated day ({r['hours']:g} h, {r['rate']:g} new conversations a minute, "
             f"{r['events']:,} events) ending now, applied in order through the real writer "
             f"in batches of 4,000 per partition as a worker drains a backlog "
             f"(`bench.backfill_memory`, by `{command}`); `MEMORY USAGE` of every key right "
             f"after it, and again after `SUPPORT_BUCKET_TTL_MARGIN` (scaled to "
             f"{r['margin_s']:g} s for the run; 10 min by default): the windows' own buckets "
             "only, what a live floor holds at the same clock (its steady state, with a "
             "day of conversation states rather than the 8 days a floor keeps).", "",
             "| | conversation states | live-gauge entries | "
             + " | ".join(f"{names.get(s, s)} buckets" for s in sizes) + " | other | total |",
             "|---|---|---|" + "---|" * len(sizes) + "---|---|"]
    for label, m in (("right after the backfill", after),
                     ("after the margin (steady state)", settled)):
        lines.append(f"| {label} | {_mib(m.states)} | {_mib(m.live)} | "
                     + " | ".join(_mib(m.buckets.get(s, 0)) for s in sizes)
                     + f" | {_mib(m.other)} | {_mib(m.total)} |")
    ratio = after.total / settled.total if settled.total else float("nan")
    lines += ["", f"* right after the backfill / steady state: **{ratio:.2f}x**, for the "
              "margin (10 min by default); before the finer buckets were retired by the "
              "partition's clock, that much stayed for their TTL from the write (15 min for "
              "5-s buckets, 71 min for 1-min ones)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--hours", type=float, default=24.0, help="simulated history")
    ap.add_argument("--rate", type=float, default=20.0,
                    help="new conversations per simulated minute")
    ap.add_argument("--margin", type=float, default=60.0,
                    help="SUPPORT_BUCKET_TTL_MARGIN of the run, in seconds")
    args = ap.parse_args()
    print(render(run(args.redis_url, args.hours, args.rate, args.margin),
                 "python -m bench.backfill_memory"))


if __name__ == "__main__":
    main()
