"""Read side: a rolling window is the sum of the buckets covering it, read at call time.

Synchronous on purpose: it runs in the Prometheus exposition thread and the ``query``
CLI, never on the worker's event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import redis

from windows import kpi
from windows.config import KpiConfig, WindowSpec
from windows.keys import Keys


@dataclass(frozen=True)
class WindowSnapshot:
    """KPI values per dimension key for one window evaluated at ``at_ms``."""

    window: WindowSpec
    at_ms: int
    rows: Mapping[str, Mapping[str, float | None]]


@dataclass(frozen=True)
class PipelineStats:
    counters: Mapping[str, int]
    offsets: Mapping[str, int]
    epoch: str | None
    store: Mapping[str, str] = field(default_factory=dict)  # the epoch's description

    @property
    def lost_before_ms(self) -> int | None:
        """Event time before which the windows may lack events: 0 when nothing is
        missing, None when the store has no epoch (flushed, not rebuilt yet)."""
        if self.epoch is None:
            return None
        if self.store.get("epoch") != self.epoch:
            return 0  # described by no worker yet (a store older than descriptions)
        return int(self.store.get("lost_before_ms") or 0)

    def complete(self, window_ms: int, at_ms: int) -> bool:
        """Whether a window ending at ``at_ms`` can hold every event sent in it."""
        lost = self.lost_before_ms
        return lost is not None and (lost == 0 or at_ms - window_ms >= lost)


def _dec(x: bytes | str) -> str:
    return x.decode() if isinstance(x, bytes) else x


class WindowReader:
    def __init__(self, client: redis.Redis, keys: Keys, cfg: KpiConfig) -> None:
        self._redis = client
        self._keys = keys
        self._cfg = cfg
        self.reads = 0

    @property
    def config(self) -> KpiConfig:
        return self._cfg

    @property
    def client(self) -> redis.Redis:
        return self._redis

    def raw_window(self, window: WindowSpec, at_ms: int) -> dict[str, dict[str, int]]:
        """Merged bucket fields per dimension key (one pipelined round trip)."""
        pipe = self._redis.pipeline(transaction=False)
        for start in window.bucket_starts(at_ms):
            pipe.hgetall(self._keys.bucket(window.bucket_ms, start))
        hashes = pipe.execute()
        self.reads += len(hashes)
        decoded = [{_dec(k): int(v) for k, v in h.items()} for h in hashes]
        return kpi.roll_up(kpi.merge_fields(decoded), self._cfg.dimension_sets)

    def window(self, window: WindowSpec, at_ms: int) -> WindowSnapshot:
        raw = self.raw_window(window, at_ms)
        # a dimension key whose fields all went back to zero (a retraction, a conversation
        # that changed labels) holds nothing: it is not a row
        rows = {dk: kpi.summarize(fields) for dk, fields in raw.items()
                if any(fields.values())}
        return WindowSnapshot(window=window, at_ms=at_ms, rows=rows)

    def all_windows(self, at_ms: int) -> list[WindowSnapshot]:
        return [self.window(w, at_ms) for w in self._cfg.windows]

    def gauges(self, at_ms: int) -> dict[str, dict[str, float | None]]:
        """Live queue gauges per gauge dimension key, as of ``at_ms`` for ages and breaches."""
        dimkeys = sorted(_dec(d) for d in self._redis.smembers(self._keys.gauge_dims))
        opens = {_dec(k): int(v) for k, v in self._redis.hgetall(self._keys.open_counts).items()}
        pipe = self._redis.pipeline(transaction=False)
        for dk in dimkeys:
            pipe.zcard(self._keys.waiting(dk))
            pipe.zrange(self._keys.waiting(dk), 0, 0, withscores=True)
            pipe.zcount(self._keys.due(dk), "-inf", f"({at_ms}")
        res = pipe.execute()
        self.reads += 2 + len(res)
        out: dict[str, dict[str, float | None]] = {}
        for i, dk in enumerate(dimkeys):
            waiting, oldest, breaching = res[3 * i], res[3 * i + 1], res[3 * i + 2]
            if not opens.get(dk, 0) and not waiting:
                continue
            out[dk] = {
                "open": opens.get(dk, 0),
                "waiting": waiting,
                "oldest_waiting_seconds": max(0.0, (at_ms - oldest[0][1]) / 1000.0)
                if oldest else None,
                "breaching": breaching,
            }
        return out

    def stats(self) -> PipelineStats:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(self._keys.stats)
        pipe.hgetall(self._keys.offsets)
        pipe.get(self._keys.epoch)
        pipe.hgetall(self._keys.store_info)
        stats, offsets, epoch, store = pipe.execute()
        return PipelineStats(
            counters={_dec(k): int(v) for k, v in stats.items()},
            offsets={_dec(k): int(v) for k, v in offsets.items()},
            epoch=_dec(epoch) if epoch is not None else None,
            store={_dec(k): _dec(v) for k, v in store.items()},
        )
