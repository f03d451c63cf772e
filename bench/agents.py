"""What the agents' read side costs per scrape: every agent's day of events read from a real
redis-server and evaluated (live gauges, each window's occupancy and handle time, the
staffing need), cold, warm, and warm after a share of the agents were written again.

    .venv/bin/python -m bench.agents                  # 500 agents, a day each, 3 rounds
    .venv/bin/python -m bench.agents --no-write       # print only

The agents' keys are written in the store's own format (``windows.agents.encode_agent``,
the events the writer keeps after its trim) into a fresh namespace. "Cold" is a reader's
first read (every agent fetched, decoded and replayed); "warm" a later read with nothing
written since (one GETRANGE of the version per agent); "5% written" a read after a
twentieth of the agents each gained an event (a busy scrape interval). The rounds
interleave the three. Writes the "Agents read side" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from pathlib import Path

import redis

from bench.common import ROOT, drop_store, log
from bench.run import replace_section
from devtools.services import ServiceConfig, start_redis
from kpi.agents import (
    CONTACT_ENDED,
    CONTACT_STARTED,
    STATUS_CHANGED,
    WRAPUP_ENDED,
    AgentEvent,
    trim,
)
from kpi.config import KpiConfig
from supportkpi.settings import load_settings
from windows.agents import AgentTimelines, AgentView, agent_retention_ms, encode_agent
from windows.keys import Keys

HEADING = "## Agents read side"
H = 3_600_000


def agent_day(rnd: random.Random, i: int, end_ms: int) -> list[AgentEvent]:
    """A day of one agent: contacts back to back (1-10 min each, 10-90 s of wrap-up) and a
    break every couple of hours."""
    a, t, n = f"agent-{i}", end_ms - 24 * H, 0
    out = [AgentEvent(f"{a}-s0", STATUS_CHANGED, t, a, "available", (f"q{i % 8}",),
                      f"team{i % 4}", 1 + i % 3)]
    while t < end_ms - 60_000:
        n += 1
        cid = f"{a}-c{n}"
        t += rnd.randint(5_000, 120_000)
        out.append(AgentEvent(f"{a}-{n}a", CONTACT_STARTED, t, a, conversation_id=cid,
                              channel=rnd.choice(("email", "chat")), queue=f"q{i % 8}"))
        t += rnd.randint(60_000, 600_000)
        out.append(AgentEvent(f"{a}-{n}b", CONTACT_ENDED, t, a, conversation_id=cid))
        t += rnd.randint(10_000, 90_000)
        out.append(AgentEvent(f"{a}-{n}c", WRAPUP_ENDED, t, a, conversation_id=cid))
        if n % 15 == 0:
            out.append(AgentEvent(f"{a}-{n}away", STATUS_CHANGED, t + 1, a, "away"))
            t += 900_000
            out.append(AgentEvent(f"{a}-{n}back", STATUS_CHANGED, t, a, "available"))
    return out


def write(client: redis.Redis, keys: Keys, cfg: KpiConfig, days: dict[str, list[AgentEvent]],
          version: int, now_ms: int, partitions: int = 4) -> int:
    """The agents as the writer stores them; how many events that is."""
    pipe = client.pipeline(transaction=False)
    n = 0
    for agent, events in days.items():  # an agent stays in its partition
        k = keys.of(f"bench.agents:{int(agent.rsplit('-', 1)[1]) % partitions}")
        kept = trim(events, events[-1].t_ms - agent_retention_ms(cfg))
        n += len(kept)
        pipe.set(k.agent(agent), f"{version}|".encode() + encode_agent(kept))
        pipe.zadd(k.agents, {agent: now_ms})
    pipe.execute()
    return n


def scrape(client: redis.Redis, cfg: KpiConfig, reader: AgentTimelines, parts: list[Keys],
           now_ms: int) -> float:
    """One scrape's agents work: read, gauges, every window's fields, the staffing need."""
    t0 = time.perf_counter()
    view = AgentView(cfg, reader.read(client, parts, now_ms, cfg.conversation_ttl_ms))
    gauges = view.gauges(now_ms)
    for w in cfg.windows:
        view.fields(now_ms - w.length_ms, now_ms, now_ms)
    view.staffing(gauges, {f"q{i}": 40 for i in range(8)}, now_ms - 900_000, now_ms)
    return time.perf_counter() - t0


def run(redis_url: str, agents: int, rounds: int) -> tuple[int, dict[str, list[float]]]:
    client = redis.Redis.from_url(redis_url)
    cfg = load_settings().kpi_config()
    ns = "benchag" + uuid.uuid4().hex[:6]
    keys = Keys(ns)
    now = int(time.time() * 1000)
    rnd = random.Random(5)
    days = {f"agent-{i}": agent_day(rnd, i, now) for i in range(agents)}
    parts = [keys.of(f"bench.agents:{p}") for p in range(4)]
    out: dict[str, list[float]] = {"cold": [], "warm": [], "written": []}
    try:
        n = write(client, keys, cfg, days, 1, now)
        for r in range(rounds):
            reader = AgentTimelines()
            out["cold"].append(scrape(client, cfg, reader, parts, now))
            out["warm"].append(scrape(client, cfg, reader, parts, now))
            some = dict(rnd.sample(sorted(days.items()), max(1, agents // 20)))
            write(client, keys, cfg, some, 2 + r, now)
            out["written"].append(scrape(client, cfg, reader, parts, now))
            log(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in out.items()))
        return n, out
    finally:
        drop_store(client, ns)


def render(agents: int, events: int, out: dict[str, list[float]], command: str) -> str:
    def spread(xs: list[float]) -> str:
        return (f"{min(xs):.3f} / {statistics.median(xs):.3f} / {max(xs):.3f}")

    cold, warm = statistics.median(out["cold"]), statistics.median(out["warm"])
    written = statistics.median(out["written"])
    return "\n".join([
        HEADING, "",
        f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC). "
        f"{agents} agents with a day of events each ({events:,} events kept in Redis), four "
        "partitions; one scrape's agents work: read, live gauges, occupancy and handle time "
        "of every window (5m, 15m, 1h, 24h), the staffing need. Seconds per scrape, "
        "min / median / max of the rounds:", "",
        "| read | seconds | vs cold |", "|---|---|---|",
        f"| cold (a reader's first) | {spread(out['cold'])} | 1.00 |",
        f"| warm (nothing written since) | {spread(out['warm'])} | {warm / cold:.2f} |",
        f"| 5% of the agents written since | {spread(out['written'])} | "
        f"{written / cold:.2f} |", "",
        "The reader keeps each agent's timeline by the version the store gave it "
        "(docs/architecture.md, \"The agents path\"): a warm scrape fetches only the "
        "versions and re-evaluates the windows.", ""])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--agents", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--redis-port", type=int, default=16379)
    ap.add_argument("--state-dir", type=Path, default=ROOT / ".cache/bench-services")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks.md")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    svc = ServiceConfig(state_dir=args.state_dir, redis_port=args.redis_port)
    start_redis(svc, log)
    n, out = run(svc.redis_url, args.agents, args.rounds)
    text = render(args.agents, n, out, "python -m bench.agents")
    print(text)
    if not args.no_write:
        replace_section(args.out, HEADING, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
