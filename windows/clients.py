"""Redis clients of the store: one Redis, or a Redis Cluster (``cluster=True``).

redis-py's cluster clients route each command by its key's slot, follow MOVED and ASK
during a reshard, and re-learn the topology after a failover; every partition's keys share
one slot (:mod:`windows.keys`), so the batch script runs on one node either way.
"""

from __future__ import annotations

from typing import Any, cast

import redis
import redis.asyncio as aioredis

# The cluster clients serve the commands and pipelines the store uses with the same
# signatures; they are typed as the plain clients so that every caller stays one code path.


def connect(url: str, *, cluster: bool = False, **options: Any) -> redis.Redis:
    """A synchronous client (the read side)."""
    if cluster:
        return cast(redis.Redis, redis.RedisCluster.from_url(url, **options))
    return redis.Redis.from_url(url, **options)


def connect_async(url: str, *, cluster: bool = False, **options: Any) -> aioredis.Redis:
    """An asyncio client (the writer and the alert runner, on the worker's loop)."""
    if cluster:
        return cast(aioredis.Redis, aioredis.RedisCluster.from_url(url, **options))
    return aioredis.Redis.from_url(url, **options)


def cluster_mismatch(url: str, cluster: bool, **options: Any) -> str:
    """Why the settings do not match the server ("" when they do, or it cannot be asked):
    a plain client on a cluster node gets MOVED for most keys, a cluster client on a
    plain Redis cannot start, and a wrong password or user never starts."""
    try:
        with redis.Redis.from_url(url, **options) as client:
            enabled = bool(client.info("cluster").get("cluster_enabled"))
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        return _credentials_problem(exc)
    except redis.RedisError:
        return ""  # down: the worker waits for it, and says so
    if enabled and not cluster:
        return "is a Redis Cluster node: set SUPPORT_REDIS_CLUSTER=true"
    if cluster and not enabled:
        return "is not a Redis Cluster node: unset SUPPORT_REDIS_CLUSTER"
    return ""


def eviction_policy(url: str, cluster: bool, **options: Any) -> str:
    """The store's Redis ``maxmemory-policy`` when it evicts keys on any master ("" when it
    is ``noeviction``, or Redis cannot be asked now: the worker then waits for it, and its
    periodic check looks again, windows.guard)."""
    try:
        if cluster:
            nodes: redis.RedisCluster = redis.RedisCluster.from_url(url, **options)
            with nodes:
                replies = list(nodes.info("memory", target_nodes=redis.RedisCluster.PRIMARIES)
                               .values())
        else:
            with redis.Redis.from_url(url, **options) as client:
                replies = [client.info("memory")]
    except redis.RedisError:
        return ""
    policies = {str(r.get("maxmemory_policy", "noeviction")) for r in replies}
    return next((p for p in sorted(policies) if p != "noeviction"), "")


def _credentials_problem(exc: redis.RedisError) -> str:
    """A refusal that no waiting heals, in words that say what to change ("" for other
    errors)."""
    text = str(exc)
    if text.startswith("NOAUTH") or "HELLO must be called" in text:
        return ("needs a password and the URL has none: put it in "
                "(redis://:PASSWORD@host:port/0, or redis://USER:PASSWORD@…)")
    if isinstance(exc, redis.AuthenticationError) or text.startswith(("WRONGPASS", "NOPERM")):
        return f"refused the credentials ({text}): fix the user and password in it"
    return ""
