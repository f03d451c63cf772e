"""One wall snapshot per window per push interval, shared by every viewer.

A snapshot costs a few hundred Redis reads; two hundred wall screens each computing their
own halved the worker's throughput. Here the first viewer to ask for a stale window
computes it (the others wait for that one computation), the JSON is encoded once, and the
number of concurrent live streams is capped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class _Entry:
    at: float
    doc: dict[str, Any]
    event: bytes  # the server-sent event carrying ``doc``


class WallFeed:
    def __init__(self, snapshot: Callable[[str], dict[str, Any]], interval_s: float,
                 max_streams: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._snapshot = snapshot
        self._interval = interval_s
        self._clock = clock
        self.max_streams = max_streams
        self.streams = 0
        self.computed = 0  # snapshots computed (what the fan-out saves is visible here)
        self._cache: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, window: str) -> _Entry:
        """The window's current snapshot: cached when younger than the push interval."""
        lock = self._locks.setdefault(window, asyncio.Lock())
        async with lock:
            entry = self._cache.get(window)
            if entry is not None and self._clock() - entry.at < self._interval * 0.9:
                return entry
            try:
                doc = await asyncio.get_running_loop().run_in_executor(
                    None, self._snapshot, window)
            except Exception as exc:  # Redis down: tell the page, keep the stream
                doc = {"error": str(exc), "stale": True}
            self.computed += 1
            entry = _Entry(self._clock(), doc,
                           f"data: {json.dumps(doc, separators=(',', ':'))}\n\n".encode())
            self._cache[window] = entry
            return entry

    def admit(self) -> bool:
        """Take a stream slot (False when all ``max_streams`` are in use)."""
        if self.streams >= self.max_streams:
            return False
        self.streams += 1
        return True

    def release(self) -> None:
        self.streams -= 1
