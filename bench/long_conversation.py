"""What a long conversation costs per event against short ones (no Kafka: the apply path).

    .venv/bin/python -m bench.long_conversation [--events 20000] [--redis-url URL]

The same number of events is applied in batches of 100 twice: once as one conversation
(a chat that goes back and forth, like a 100k-message support thread), once spread over
conversations of ten events. Past ``SUPPORT_MAX_CONVERSATION_EVENTS`` (200) the long one's
older messages are folded (``kpi.fold.fold``), so its state, and the work each batch
does on it, stay bounded; ``bench.run`` writes the table to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import redis.asyncio as aioredis

from kpi.events import Event
from supportkpi.settings import load_settings
from windows.keys import Keys
from windows.writer import Record, WindowWriter

BATCH = 100


def _events(n: int, per_conversation: int) -> list[Event]:
    t0 = int(time.time() * 1000) - 3_600_000
    out = []
    for i in range(n):
        cid, k = f"c{i // per_conversation}", i % per_conversation
        if k == 0:
            out.append(Event(f"{cid}-0", "chat.started", t0 + i, cid, queue="billing",
                             channel="chat"))
        else:
            actor = "customer" if k % 2 else "agent"
            out.append(Event(f"{cid}-{k}", "chat.message", t0 + i, cid, actor=actor))
    return out


def measure(redis_url: str, n: int, per_conversation: int) -> tuple[float, int]:
    """(µs per event, bytes of the largest conversation state) applying ``n`` events."""
    cfg = load_settings().kpi_config()
    events = _events(n, per_conversation)

    async def run() -> tuple[float, int]:
        client = aioredis.Redis.from_url(redis_url)
        keys = Keys("long" + uuid.uuid4().hex[:6])
        writer = WindowWriter(client, keys, cfg, time.time)
        t0 = time.perf_counter()
        for start in range(0, n, BATCH):
            await writer.apply("t", 0, [Record(start + i, event=e)
                                        for i, e in enumerate(events[start:start + BATCH])])
        seconds = time.perf_counter() - t0
        size = await client.memory_usage(keys.of("t:0").conversation("c0")) or 0
        await client.aclose()  # type: ignore[attr-defined]  # types-redis predates it
        return seconds / n * 1e6, int(size)

    return asyncio.run(run())


def table(redis_url: str, n: int) -> list[tuple[str, float, int]]:
    return [(label, *measure(redis_url, n, per))
            for label, per in ((f"{n:,} events in conversations of 10", 10),
                               (f"{n:,} events in one conversation", n))]


def render(rows: list[tuple[str, float, int]], n: int) -> str:
    short, long_ = rows[0][1], rows[1][1]
    lines = ["## Long conversations", "",
             f"`python -m bench.long_conversation --events {n}`: the apply path (no Kafka), "
             f"batches of {BATCH}, one partition, with the default "
             "`SUPPORT_MAX_CONVERSATION_EVENTS` (200): past it a conversation's older "
             "messages are folded into a summary, so each batch re-reads, re-sorts and "
             "re-encodes at most about that many events of it.", "",
             "| history | µs per event | largest conversation state |", "|---|---|---|"]
    lines += [f"| {label} | {us:,.0f} | {size / 1024:,.0f} KiB |" for label, us, size in rows]
    lines += ["", f"One long conversation costs **{long_ / short:.1f}×** per event what short "
              "ones do.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:16379/0")
    args = ap.parse_args()
    print(render(table(args.redis_url, args.events), args.events))


if __name__ == "__main__":
    main()
