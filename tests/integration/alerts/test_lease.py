"""Only one evaluator at a time: the Redis lease."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from alerts.notify import HttpNotifier
from alerts.rules import parse_rules
from alerts.runner import AlertRunner
from devtools.services import ServiceConfig
from kpi.config import KpiConfig, windows_from_text
from windows.keys import Keys
from windows.reader import WindowReader

pytestmark = pytest.mark.integration

RULES = parse_rules("""
rules:
  - {name: R, kpi: waiting, statistic: value, per: [], comparison: ">", threshold: 0}
""")


def test_two_workers_never_evaluate_together(services: ServiceConfig, ns: str) -> None:
    cfg = KpiConfig(windows=windows_from_text("5m"))
    keys = Keys(ns)

    async def noop(_doc: dict[str, Any]) -> None:
        return None

    async def go() -> list[tuple[bool, bool]]:
        client = aioredis.Redis.from_url(services.redis_url)
        reader = WindowReader(redis.Redis.from_url(services.redis_url), keys, cfg)
        a, b = (AlertRunner(RULES, reader, client, keys, time.time, noop,
                            HttpNotifier(None, None), interval_s=0.2) for _ in range(2))
        seen = []
        for _ in range(10):
            await asyncio.gather(a.tick(), b.tick())
            seen.append((a.leader, b.leader))
        # the leader goes away: the other takes over once the lease expires
        other = b if a.leader else a
        await asyncio.sleep(3.2)  # the lease (at least 3 s) runs out: nobody renewed it
        await other.tick()
        seen.append((other.leader, False))
        await client.aclose()
        return seen

    seen = asyncio.run(go())
    assert all(x != y for x, y in seen[:-1]), seen  # exactly one leader at every tick
    assert seen[-1][0] is True


def test_a_graceful_stop_hands_the_lease_over_at_once(services: ServiceConfig, ns: str) -> None:
    cfg = KpiConfig(windows=windows_from_text("5m"))
    keys = Keys(ns)

    async def noop(_doc: dict[str, Any]) -> None:
        return None

    async def go() -> tuple[bool, bool, bool]:
        client = aioredis.Redis.from_url(services.redis_url)
        reader = WindowReader(redis.Redis.from_url(services.redis_url), keys, cfg)
        a, b = (AlertRunner(RULES, reader, client, keys, time.time, noop,
                            HttpNotifier(None, None), interval_s=5) for _ in range(2))
        await a.tick()
        await b.tick()
        first = (a.leader, b.leader)
        await a.release()  # what the worker does on SIGTERM (app.on_before_shutdown)
        await b.tick()  # b's very next evaluation, long before the 15 s lease would run out
        await client.aclose()
        return first[0] and not first[1], b.leader, not a.leader

    took_over = asyncio.run(go())
    assert took_over == (True, True, True)
