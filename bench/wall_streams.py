"""What wall viewers cost the worker: throughput draining the same preloaded history with
no live wall stream, and with ``clients`` streams open for the whole round, alternated in
one run (``python -m bench.run`` calls :func:`measure`).

The clients are real server-sent-event readers over loopback spread over the windows
(``/api/stream?window=…``), each reading every pushed snapshot.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from devtools.services import ServiceConfig

WINDOWS = ("5m", "15m", "1h", "24h")


@contextmanager
def streams(port: int, clients: int, counts: dict[str, int]) -> Any:
    """``clients`` live streams on the worker at ``port`` while the block runs."""
    stop = threading.Event()

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        url = f"http://127.0.0.1:{port}/api/stream?window={WINDOWS[i % len(WINDOWS)]}"
        while not stop.is_set():
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as r:
                    counts["status_" + str(r.status)] = counts.get("status_" + str(r.status),
                                                                   0) + 1
                    async for line in r.content:
                        if line.startswith(b"data: "):
                            counts["events"] = counts.get("events", 0) + 1
                        if stop.is_set():
                            return
            except (TimeoutError, aiohttp.ClientError):
                await asyncio.sleep(0.2)

    async def run() -> None:
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as session:
            tasks = [asyncio.create_task(one(session, i)) for i in range(clients)]
            while not stop.is_set():
                await asyncio.sleep(0.1)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


def measure(svc: ServiceConfig, topics: tuple[str, str], n: int, tmp: Path, box: float,
            ours: Callable[..., Any], free_port: Callable[[], int], clients: int = 200,
            rounds: int = 4) -> dict[str, Any]:
    """Alternating rounds without and with ``clients`` streams; medians and their ratio."""
    rates: dict[int, list[float]] = {0: [], clients: []}
    pushed: list[int] = []
    for _ in range(rounds):
        for k in (0, clients):
            port = free_port()
            counts: dict[str, int] = {}

            def during(k: int = k, port: int = port, counts: dict[str, int] = counts
                       ) -> AbstractContextManager[Any]:
                return streams(port, k, counts)

            m = ours(svc, topics, n, tmp, box, {"SUPPORT_METRICS_PORT": str(port)},
                     during=during)
            rates[k].append(m.rate)
            if k:
                pushed.append(counts.get("events", 0))
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {"clients": clients, "seconds": box, "without": med[0], "with": med[clients],
            "ratio": med[clients] / med[0], "rounds": rates, "snapshots_read": pushed}


def render(res: dict[str, Any], command: str) -> str:
    change = (res["ratio"] - 1) * 100
    pushed = ", ".join(map(str, res["snapshots_read"]))
    rows = "\n".join(f"| {k} | " + ", ".join(f"{r:,.0f}" for r in v) + " |"
                     for k, v in res["rounds"].items())
    return f"""## Wall viewers

`{command}`: the same history drained with no live wall stream and with
{res['clients']} server-sent-event clients (spread over the four windows) connected for
each whole {res['seconds']:.0f}-second round, rounds alternated in one run.

| wall streams | events/s per round |
|---|---|
{rows}

Median with {res['clients']} streams / without: **{res['ratio']:.2f}** ({change:+.1f}% throughput;
the issue's bar is a change under 10%). The clients read {pushed} pushed snapshots per
round: every viewer shares one snapshot per window and push interval
(`serve/feed.py`), computed in the wall's helper process (`serve/remote.py`) so it does not
take the stream's interpreter lock; rounds vary by about ±10% on this two-core machine.
"""
