"""Redis that evicts the store's keys: refused, and healed like a lost store.

A Redis with an evicting ``maxmemory-policy`` (``volatile-lru``, a common managed-Redis
default, evicts keys with a TTL: conversation states, buckets, live sets) drops what the
windows are made of without an error: counts go silently wrong. So a worker refuses to start
on one (:func:`windows.clients.eviction_policy`), and :class:`EvictionGuard` watches while
it runs: a policy switched to an evicting one makes the writer refuse every batch
(unacknowledged, nothing counted, health red, ``/ready`` 503, ``support_redis_evicting``),
and keys evicted meanwhile (``evicted_keys`` risen since the store last recorded it, also
while no worker ran) make the store rebuild from Kafka once the policy is ``noeviction``
again: its epoch is dropped, so the next check restarts the worker into a new epoch
(docs/operations.md, "Redis that evicts").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from windows.keys import Keys
from windows.writer import WindowWriter, store_call

log = logging.getLogger(__name__)

SAFE_POLICY = "noeviction"


@dataclass(frozen=True)
class Node:
    """What one Redis (a cluster's master) says of evictions."""

    run_id: str
    policy: str
    evicted: int


def evicting(nodes: list[Node]) -> str:
    """The first evicting policy among the nodes ("" when every one is ``noeviction``)."""
    return next((n.policy for n in nodes if n.policy != SAFE_POLICY), "")


def evicted_since(nodes: list[Node], recorded: Mapping[str, int]) -> int:
    """Keys evicted since the store recorded each node's counter (a node whose run the
    store has no record of, a restarted one, starts its count now)."""
    return sum(max(0, n.evicted - recorded[n.run_id]) for n in nodes if n.run_id in recorded)


async def node_states(client: aioredis.Redis) -> list[Node]:
    """INFO of every master: its run, policy and eviction counter."""
    if isinstance(client, aioredis.RedisCluster):
        replies = (await client.info("server", "memory", "stats",
                                     target_nodes=aioredis.RedisCluster.PRIMARIES)).values()
    else:
        replies = [await client.info("server", "memory", "stats")]
    return [Node(str(r.get("run_id", "")), str(r.get("maxmemory_policy", SAFE_POLICY)),
                 int(r.get("evicted_keys", 0) or 0)) for r in replies]


class EvictionGuard:
    """Run by the worker's periodic check (streams.supervise)."""

    def __init__(self, client: aioredis.Redis, keys: Keys, writer: WindowWriter) -> None:
        self._redis = client
        self._keys = keys
        self._writer = writer
        self._told = ""  # the refusal last logged

    async def check(self) -> tuple[str, str] | None:
        """The writer's refusal after looking at the store: (reason, detail) or None."""
        with store_call():
            nodes = await node_states(self._redis)
            raw: Any = await self._redis.hget(self._keys.store_info, "evicted")
        recorded: dict[str, int] = json.loads(raw) if raw else {}
        policy, lost = evicting(nodes), evicted_since(nodes, recorded)
        if policy:
            self._refuse("eviction_policy",
                         f"Redis maxmemory-policy is {policy}: it evicts the store's keys and "
                         "the KPIs would go silently wrong; nothing is counted until it is "
                         f"{SAFE_POLICY} (CONFIG SET maxmemory-policy {SAFE_POLICY}, or the "
                         "managed service's parameter)"
                         + (f"; {lost} keys were evicted already" if lost else ""))
            return self._writer.refusal
        if lost:
            await self._rebuild(lost)
            return self._writer.refusal
        if self._told:
            log.warning("Redis maxmemory-policy is %s again: the store is written again",
                        SAFE_POLICY)
            self._told = ""
        self._writer.refuse(None)
        now = {n.run_id: n.evicted for n in nodes}
        if now != recorded:
            with store_call():
                await self._redis.hset(self._keys.store_info, "evicted", json.dumps(now))
        return None

    def _refuse(self, reason: str, detail: str) -> None:
        if self._told != detail:
            log.error("%s", detail)
            self._told = detail
        self._writer.refuse((reason, detail))

    async def _rebuild(self, lost: int) -> None:
        """Keys were evicted: what the store holds is not what was applied. Its epoch is
        dropped, so the worker restarts into a new one and rebuilds from the replay point
        (the windows are marked incomplete if Kafka no longer holds it)."""
        log.error("Redis evicted %d keys since the store last checked (a policy other than "
                  "%s was in force): the windows lost data; dropping the store's epoch to "
                  "rebuild them from Kafka", lost, SAFE_POLICY)
        self._writer.refuse(("evicted_keys", f"Redis evicted {lost} of the store's keys"))
        with store_call():
            await self._redis.delete(self._keys.epoch)
            await self._redis.hdel(self._keys.store_info, "evicted")
