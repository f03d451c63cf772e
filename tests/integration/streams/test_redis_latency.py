"""Redis latency with client timeouts cancelling calls mid-reply: every reply still
matches its request (redis-py's asyncio client once handed a cancelled call's reply to
the next caller, CVE-2023-28858/28859), and the worker's windows still equal the oracle.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import TimeoutError as RedisTimeoutError

from devtools.services import ServiceConfig
from tests.integration.streams.test_faults import (
    finish_and_check,
    make_history,
    start_worker,
    wait_seen,
)
from tests.replay_check import cli
from tests.support import LatencyProxy, parse, sample, scrape

pytestmark = pytest.mark.integration


def test_cancelled_calls_never_hand_their_reply_to_another(services: ServiceConfig,
                                                           ns: str) -> None:
    proxy = LatencyProxy(services.redis_port, chance=0.3, max_delay=0.4).start()

    async def go() -> tuple[int, int, int]:
        direct = aioredis.Redis.from_url(services.redis_url)
        keys = [f"{{{ns}}}:lat:{i}" for i in range(200)]
        await direct.mset({k: f"value-{i}" for i, k in enumerate(keys)})
        # few connections, many callers: each connection serves call after call, so a
        # reply left behind by a cancelled call would reach the next one
        pool = aioredis.BlockingConnectionPool.from_url(proxy.url, socket_timeout=0.2,
                                                        max_connections=8, timeout=None)
        client = aioredis.Redis(connection_pool=pool)
        rng = random.Random(3)
        ok = timed_out = cancelled = 0

        async def one(i: int) -> None:
            nonlocal ok, timed_out, cancelled
            try:
                if rng.random() < 0.5:  # cancelled from outside, as asyncio.timeout does
                    got = await asyncio.wait_for(client.get(keys[i]), rng.uniform(0.01, 0.3))
                else:  # the client's own socket timeout
                    got = await client.get(keys[i])
            except RedisTimeoutError:
                timed_out += 1
                return
            except TimeoutError:
                cancelled += 1
                return
            assert got == f"value-{i}".encode(), f"request {i} got {got!r}"
            ok += 1

        for _ in range(5):
            await asyncio.gather(*(one(rng.randrange(len(keys))) for _ in range(200)),
                                 return_exceptions=False)
        proxy.delaying = False
        for i in range(len(keys)):  # afterwards, on the same pool: still in step
            assert await client.get(keys[i]) == f"value-{i}".encode()
        await client.aclose()
        await direct.aclose()
        return ok, timed_out, cancelled

    try:
        ok, timed_out, cancelled = asyncio.run(go())
    finally:
        proxy.stop()
    assert proxy.delayed_chunks > 0 and cancelled > 0 and timed_out > 0, \
        (ok, timed_out, cancelled)  # the hazard was really exercised
    assert ok > 0


def test_worker_under_redis_latency_matches_the_oracle(services: ServiceConfig,
                                                       worker_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    """Replies held back past the worker's Redis timeout: its calls are cancelled and
    retried (a script may have run although its reply was lost: the watermark makes the
    retry a no-op), and the windows end equal to the oracle."""
    proxy = LatencyProxy(services.redis_port, chance=0.05, max_delay=0.8).start()
    env = {**worker_env, "SUPPORT_REDIS_URL": proxy.url, "SUPPORT_REDIS_TIMEOUT": "0.3",
           "SUPPORT_BATCH_MAX": "20"}
    file, n, end = make_history(env, tmp_path, seed=53, minutes=40, rate=40)
    worker = start_worker(env, tmp_path / "w.log")
    try:
        cli(env, "replay", str(file))
        wait_seen(env, n // 2, "half seen under latency")
        proxy.delaying = False  # calm, so the final checks' own scrapes are not cancelled
        finish_and_check(services, {**env}, file, n, end, worker, exact_dlq=False)
        s = parse(scrape(int(env["SUPPORT_METRICS_PORT"])))
        retries = sample(s, "support_store_retries_total", reason="redis_unavailable")
        assert (retries or 0) > 0, "no call was cancelled"
        assert proxy.delayed_chunks > 0
    finally:
        worker.stop()
        proxy.stop()
