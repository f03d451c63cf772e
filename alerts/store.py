"""Alert states in Redis, in one format, read and written only here.

One hash (:attr:`windows.keys.Keys.alert_states`) maps ``<rule>|<dimension key>`` to the
JSON of an :class:`alerts.state.AlertState`. The runner writes it; the collector, the
wall and ``query`` read it through :class:`AlertStore`, so all of them agree on what a
state is and on the ok/pending/firing value map (:data:`alerts.state.STATE_VALUE`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import redis
import redis.asyncio as aioredis

from alerts.state import AlertState
from windows.keys import Keys


def alert_key(rule: str, dimkey: str) -> str:
    """The field of one (rule, dimension combination) in the states hash."""
    return f"{rule}|{dimkey}"


def split_key(key: str) -> tuple[str, str]:
    """``alert_key`` backwards: (rule, dimension key)."""
    rule, _, dimkey = key.partition("|")
    return rule, dimkey


def _decode(raw: Mapping[bytes | str, bytes | str]) -> dict[str, AlertState]:
    return {(k.decode() if isinstance(k, bytes) else k): AlertState.from_json(json.loads(v))
            for k, v in raw.items()}


def encode(state: AlertState) -> str:
    return json.dumps(state.to_json())


class AlertStore:
    """Synchronous reads for the read side (exposition thread, wall, ``query``)."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._redis = client
        self._key = keys.alert_states

    def read(self) -> dict[str, AlertState]:
        return _decode(self._redis.hgetall(self._key))


class AsyncAlertStore:
    """The runner's reads and writes, on the worker's event loop."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._redis = client
        self._key = keys.alert_states

    async def read(self) -> dict[str, AlertState]:
        return _decode(await self._redis.hgetall(self._key))

    async def write(self, changed: Mapping[str, AlertState], gone: Sequence[str]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        if changed:
            pipe.hset(self._key, mapping={k: encode(s) for k, s in changed.items()})
        if gone:
            pipe.hdel(self._key, *gone)
        await pipe.execute()
