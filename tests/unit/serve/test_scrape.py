"""The shared /metrics render (serve/scrape.py): fast renders stay fresh, a slow one is
shared for its max age and rendered again ahead of expiry while scrapes come."""

from __future__ import annotations

import asyncio
import time

from serve.scrape import ScrapeCache


class Render:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        time.sleep(self.seconds)
        return f"render {self.calls}".encode()


def test_a_fast_render_is_never_served_twice() -> None:
    render = Render(0.0)
    # a threshold far above an instant render: a loaded machine (the thread hop) must not
    # make it look slow
    cache = ScrapeCache(render, max_age_s=60, slow_s=5.0)

    async def go() -> list[tuple[bytes, float]]:
        return [await cache.body(), await cache.body()]

    assert asyncio.run(go()) == [(b"render 1", 0.0), (b"render 2", 0.0)]


def test_a_slow_render_is_shared_by_concurrent_and_later_scrapes() -> None:
    render = Render(0.06)
    cache = ScrapeCache(render, max_age_s=60, slow_s=0.05)

    async def go() -> tuple[list[tuple[bytes, float]], tuple[bytes, float]]:
        together = await asyncio.gather(*(cache.body() for _ in range(5)))
        return together, await cache.body()

    together, later = asyncio.run(go())
    assert [b for b, _ in together] == [b"render 1"] * 5 and render.calls == 1
    assert later[0] == b"render 1" and later[1] > 0


def test_scrapes_keep_a_slow_render_ahead_and_idle_stops_it() -> None:
    render = Render(0.06)
    cache = ScrapeCache(render, max_age_s=0.5, slow_s=0.05)

    async def go() -> tuple[list[tuple[bytes, float]], int, int]:
        served = []
        for _ in range(8):  # a scraper every 0.3 s: never one render per scrape
            served.append(await cache.body())
            await asyncio.sleep(0.3)
        rendered = render.calls
        await asyncio.sleep(0.5 * 3 + 0.8)  # idle: the renders ahead stop
        idle = render.calls
        await asyncio.sleep(0.8)
        return served, rendered, render.calls - idle

    served, rendered, after_idle = asyncio.run(go())
    assert all(age < 0.5 for _, age in served)
    # the first scrape waited for a render, the others were served one made ahead
    assert [age == 0.0 for _, age in served].count(True) == 1
    assert 3 <= rendered <= 8 and after_idle == 0


def test_a_render_longer_than_the_schedule_never_holds_a_scraper() -> None:
    """A render of 0.4 s against a max age of 0.5 s (it runs at half duty, so expiry comes
    before the next render is done): after the first render, every scrape is answered at
    once, with the last render and its age, never after waiting for a new one."""
    render = Render(0.4)
    cache = ScrapeCache(render, max_age_s=0.5, slow_s=0.05)

    async def go() -> list[tuple[float, float]]:
        await cache.body()  # the first waits: there is nothing to serve yet
        waits = []
        for _ in range(12):
            t0 = time.monotonic()
            _body, age = await cache.body()
            waits.append((time.monotonic() - t0, age))
            await asyncio.sleep(0.25)
        return waits

    waits = asyncio.run(go())
    assert max(w for w, _ in waits) < 0.1, waits  # no scrape waited for a render
    assert max(age for _, age in waits) < 0.5 + 0.4 + 0.4, waits  # stale by < a render
    assert render.calls >= 3
