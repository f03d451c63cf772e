"""A slow /metrics render shared between scrapers and rendered ahead of the next scrape.

A floor with many queues exports tens of thousands of series, and one render reads and
sums thousands of bucket hashes (~9 µs per series at 20,000 series here, about 0.2 s). Each
Prometheus of an HA pair, and the wall's checks, would each pay for it, on the worker's
interpreter lock. So when a render is slow (``slow_s``), scrapes within ``max_age_s`` of
it get that render, and while scrapes keep coming the next one starts in the background
early enough to be ready before the last one expires. A render slower than that schedule
allows (longer than half the max age: it then runs at half duty, not back to back) would
make scrapes wait for it past the expiry; instead a scrape after the expiry gets the last
one at once and a new one begins (if none is in flight), so it is older than
``max_age_s`` by at most about a render's time (``X-Metrics-Age-Seconds`` says how
old). So once a first render exists, no scraper ever waits for one: a scrape is served
well inside any scrape timeout whatever the floor's size. A fast render (a small floor)
is never cached: every scrape is fresh, exactly as without this.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

# A render faster than this is not worth serving stale
SLOW_RENDER_S = 0.1
# The background renders stop when no scrape came for this many max-ages
IDLE_AFTER_AGES = 3


class ScrapeCache:
    def __init__(self, render: Callable[[], bytes], max_age_s: float, *,
                 slow_s: float = SLOW_RENDER_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._render = render
        self._max_age = max_age_s
        self._slow = slow_s
        self._clock = clock
        self._body: bytes | None = None
        self._at = 0.0  # when the cached render started (its data are at least that new)
        self._took = 0.0
        self._inflight: asyncio.Future[bytes] | None = None
        self._last_request = 0.0
        self._ahead: asyncio.Task[None] | None = None

    async def body(self) -> tuple[bytes, float]:
        """The exposition and its age in seconds (0 for a render made for this scrape)."""
        now = self._last_request = self._clock()
        body = self._body
        if body is not None and self._max_age > 0 and self._took >= self._slow:
            if now - self._at >= self._max_age and self._inflight is None:
                # expired before the schedule's render began: begin it, serve this one
                self._inflight = asyncio.ensure_future(self._do_render())
            self._render_ahead()
            return body, now - self._at
        body = await self._fresh()
        self._render_ahead()
        return body, 0.0

    async def _fresh(self) -> bytes:
        """A new render; concurrent scrapes share the one in flight."""
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._do_render())
        return await asyncio.shield(self._inflight)

    async def _do_render(self) -> bytes:
        started = self._clock()
        try:
            body = await asyncio.get_running_loop().run_in_executor(None, self._render)
        finally:
            self._inflight = None
        self._body, self._at, self._took = body, started, self._clock() - started
        return body

    def _render_ahead(self) -> None:
        if self._max_age > 0 and self._took >= self._slow and (
                self._ahead is None or self._ahead.done()):
            self._ahead = asyncio.ensure_future(self._keep_ahead())

    async def _keep_ahead(self) -> None:
        """Render again before the cached one expires, while scrapes keep coming."""
        while self._took >= self._slow:
            # start so that it is done a margin before the cached render expires
            due = self._at + self._max_age - 1.5 * self._took - 0.05
            due = max(due, self._at + 2 * self._took)  # a render longer than that: half duty
            await asyncio.sleep(max(0.0, due - self._clock()))
            if self._clock() - self._last_request > IDLE_AFTER_AGES * self._max_age:
                return
            with contextlib.suppress(Exception):  # a failed render: the next scrape retries
                await self._fresh()
