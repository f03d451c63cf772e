"""What the customer path costs: the worker draining the same day of history (with
customer ids) with the customer KPIs off and on, in interleaved rounds.

    .venv/bin/python -m bench.customers              # 1,000,000 events, 3 rounds each
    .venv/bin/python -m bench.customers --no-write   # print only

"On" is the whole customer path of one worker command: the main path's contacts written
to the customers topic (acknowledged before each batch script) and the customers agent
applying them, in the worker's customers process (the default) or, "inline", on the
worker's own event loop (SUPPORT_CUSTOMER_PROCESS=false); then on with two workers. The
drain rate counts input events applied, as bench.run's does; the customers agents'
progress at the end of the round (contacts applied) says whether they kept up. Writes the
"Customer path" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import uuid
from pathlib import Path

import redis
from kafka import KafkaConsumer, TopicPartition

from bench.common import ROOT, log, partition_hashes
from bench.preload import preload
from bench.run import Measure, ours, replace_section
from devtools.services import ServiceConfig, down, up

HEADING = "## Customer path"
SECRET = "bench-customer-secret-0123456789"


def _written(bootstrap: str, topic: str) -> int:
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        return sum(c.end_offsets(tps).values()) if tps else 0
    finally:
        c.close()


def _applied(client: redis.Redis, ns: str) -> int:
    return sum(int(v) for vals in partition_hashes(client, ns, "stats")
               for k, v in vals.items() if k.startswith(b"contacts:"))


# (name, SUPPORT_CUSTOMER_KPIS, SUPPORT_CUSTOMER_PROCESS, worker processes)
VARIANTS = (("off", False, False, 1), ("on", True, True, 1), ("inline", True, False, 1),
            ("on2", True, True, 2))


def run(svc: ServiceConfig, n: int, rounds: int, box: float, tmp: Path
        ) -> tuple[int, list[dict[str, float]]]:
    topics = (f"bench{n}cust.tickets", f"bench{n}cust.chats")
    n = preload(svc, n, 43, topics, customers=max(1_000, n // 25))
    client = redis.Redis.from_url(svc.redis_url)
    out: list[dict[str, float]] = []
    for r in range(rounds):
        row: dict[str, float] = {}
        for name, on, apart, workers in VARIANTS:
            log(f"round {r + 1}/{rounds}: {name} (customer KPIs {'on' if on else 'off'}"
                f"{', own process' if apart else ''}, {workers} worker(s))")
            client.flushall()  # a fresh store: no earlier round's keys in Redis's way
            extra: dict[str, str] = {}
            topic = f"bench-customers-{uuid.uuid4().hex[:8]}"
            if on:
                extra = {"SUPPORT_CUSTOMER_KPIS": "true", "SUPPORT_CUSTOMER_SECRET": SECRET,
                         "SUPPORT_TOPIC_CUSTOMERS": topic,
                         "SUPPORT_CUSTOMER_PROCESS": "true" if apart else "false"}
            m: Measure = ours(svc, topics, n, tmp, box, extra_env=extra, workers=workers)
            row[f"{name}_rate"] = m.rate
            row[f"{name}_cpu"] = m.cpu_per_million
            row[f"{name}_redis_cpu"] = m.extra["redis_cpu_per_million"]
            if on:
                row[f"{name}_written"] = _written(svc.bootstrap, topic)
                row[f"{name}_applied"] = _applied(client, m.namespace)
            log(f"  {m.rate:,.0f} events/s, {m.cpu_per_million:.1f} CPU-s per million")
        row["ratio"] = row["on_rate"] / row["off_rate"]
        out.append(row)
    return n, out


def render(rows: list[dict[str, float]], n: int, command: str) -> str:
    lines = [HEADING, "",
             f"`{command}`: the worker draining a simulated day ({n:,} events, customer ids "
             "from a population of one per 25 events, on 4 partitions), each variant from "
             "the start with a fresh store, interleaved: customer KPIs off; on (the default: "
             "the customers agent in the worker's own customers process); on with "
             "`SUPPORT_CUSTOMER_PROCESS=false` (the customers agent on the worker's event "
             "loop); on with two workers (one consumer group). Rate: input events applied "
             "per second; CPU: the workers' and their customers processes', and Redis's, per "
             "million input events; the contacts the customers agents had applied when the "
             "round ended (fewer than the others' when they lag).", "",
             "| round | off: events/s | on: events/s | on/off | on, inline: events/s "
             "| on, 2 workers: events/s | worker CPU-s per M off / on / inline "
             "| Redis CPU-s per M off / on / inline | contacts applied on / inline |",
             "|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        lines.append(
            f"| {i} | {r['off_rate']:,.0f} | {r['on_rate']:,.0f} | {r['ratio']:.2f} | "
            f"{r['inline_rate']:,.0f} | {r['on2_rate']:,.0f} | {r['off_cpu']:.1f} / "
            f"{r['on_cpu']:.1f} / {r['inline_cpu']:.1f} | {r['off_redis_cpu']:.1f} / "
            f"{r['on_redis_cpu']:.1f} / {r['inline_redis_cpu']:.1f} | "
            f"{r['on_applied']:,.0f} / {r['inline_applied']:,.0f} |")
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}

    def verdict(key: str) -> str:
        lowest = min(r[key] for r in rows)
        return "met in every round" if lowest > 20_000 else f"missed (lowest {lowest:,.0f})"

    lines += ["", f"Median: {med['on_rate']:,.0f} events/s with the customer path on "
              f"({med['ratio']:.2f} × the {med['off_rate']:,.0f} without it), "
              f"{med['inline_rate']:,.0f} with its agent on the worker's event loop, "
              f"{med['on2_rate']:,.0f} with two workers. Above 20,000 events/s: one worker "
              f"{verdict('on_rate')}; inline {verdict('inline_rate')}; two workers "
              f"{verdict('on2_rate')}. The customer path costs "
              f"{med['on_cpu'] - med['off_cpu']:+.1f} worker CPU-s (its process included) "
              f"and {med['on_redis_cpu'] - med['off_redis_cpu']:+.1f} Redis CPU-s per million "
              "input events (medians)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--round-seconds", type=float, default=45.0)
    ap.add_argument("--kafka-port", type=int, default=19092)
    ap.add_argument("--redis-port", type=int, default=16379)
    ap.add_argument("--state-dir", type=Path, default=ROOT / ".cache/bench-services")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks.md")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--down", action="store_true", help="stop Kafka and Redis at the end")
    args = ap.parse_args(argv)
    svc = ServiceConfig(state_dir=args.state_dir, kafka_port=args.kafka_port,
                        controller_port=args.kafka_port + 1, redis_port=args.redis_port)
    up(svc, log=log)
    try:
        tmp = ROOT / ".cache/bench-tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        n, rows = run(svc, args.events, args.rounds, args.round_seconds, tmp)
        text = render(rows, n, "python -m bench.customers")
        print(text)
        if not args.no_write:
            replace_section(args.out, HEADING, text)
        return 0
    finally:
        if args.down:
            down(svc, log=log)


if __name__ == "__main__":
    raise SystemExit(main())
