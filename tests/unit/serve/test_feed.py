"""Every wall viewer shares one snapshot per window and interval; streams are capped."""

from __future__ import annotations

import asyncio
import json
import threading
import time

from serve.feed import WallFeed


def test_two_hundred_viewers_share_one_computation_and_one_encoding() -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def snapshot(window: str) -> dict[str, object]:
        with lock:
            calls.append(window)
        time.sleep(0.05)  # a real snapshot takes a while: concurrent viewers must wait for it
        return {"window": window, "n": len(calls)}

    now = [0.0]
    feed = WallFeed(snapshot, interval_s=2.0, max_streams=500, clock=lambda: now[0])

    async def viewers() -> list[object]:
        return list(await asyncio.gather(*(feed.get("15m") for _ in range(200)),
                                         *(feed.get("1h") for _ in range(50))))

    entries = asyncio.run(viewers())
    assert sorted(calls) == ["15m", "1h"] and feed.computed == 2
    fifteen = [e for e in entries if e.doc["window"] == "15m"]  # type: ignore[attr-defined]
    assert len({id(e.event) for e in fifteen}) == 1  # one encoding for all
    assert json.loads(fifteen[0].event.decode()[len("data: "):]) == fifteen[0].doc  # type: ignore[attr-defined]
    now[0] = 1.0  # within the interval: cached
    asyncio.run(feed.get("15m"))
    assert feed.computed == 2
    now[0] = 2.5  # the next push: computed again, once
    asyncio.run(feed.get("15m"))
    assert feed.computed == 3


def test_a_failing_store_is_a_snapshot_saying_so() -> None:
    def snapshot(_w: str) -> dict[str, object]:
        raise ConnectionError("Redis is down")

    feed = WallFeed(snapshot, interval_s=1.0, max_streams=1)
    entry = asyncio.run(feed.get("15m"))
    assert entry.doc == {"error": "Redis is down", "stale": True}


def test_streams_beyond_the_cap_are_refused() -> None:
    feed = WallFeed(lambda w: {}, interval_s=1.0, max_streams=2)
    assert feed.admit() and feed.admit() and not feed.admit()
    feed.release()
    assert feed.admit()
