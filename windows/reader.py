"""Read side: a rolling window is the sum of the buckets covering it, read at call time.

Synchronous on purpose: it runs in the Prometheus exposition thread and the ``query``
CLI, never on the worker's event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
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
    folded: int = 0  # dimension combinations folded into "other" by the series budget


@dataclass(frozen=True)
class PipelineStats:
    counters: Mapping[str, int]
    offsets: Mapping[str, int]
    epoch: str | None
    store: Mapping[str, str] = field(default_factory=dict)  # the epoch's description
    unwritable: str = ""  # why Redis refuses writes now (read-only replica, out of memory)

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


@dataclass(frozen=True)
class ReadTime:
    """When the read side reads: where windows end and what live ages are measured to.

    The *event clock* is the event-time watermark (the newest applied ``occurred_at``)
    carried forward at wall-clock speed since the batch that applied it: on a live floor it
    is the wall clock (a quiet night included: nothing applied, and the clock runs on), and
    during a replay, a backfill or a rebuild it is the time of the history being applied.
    The worker is *catching up* while the event clock trails the wall clock by more than
    the threshold: then live ages are measured against the event clock (never older than
    the history itself) and nothing pages.
    """

    now_ms: int  # the wall clock
    event_ms: int  # the event clock (now_ms when nothing was applied yet)
    catching_up: bool
    event_windows: bool  # SUPPORT_READ_CLOCK=event: windows end at the event clock

    @property
    def window_end_ms(self) -> int:
        return self.event_ms if self.event_windows else self.now_ms

    @property
    def live_ms(self) -> int:
        return self.event_ms if self.event_windows or self.catching_up else self.now_ms


def read_time(now_ms: int, last_event_ms: int | None, last_applied_ms: int | None,
              catch_up_ms: int, event_windows: bool = False) -> ReadTime:
    """The read time from the stats the batch script writes (pure)."""
    event_ms = now_ms
    if last_event_ms is not None and last_applied_ms is not None:
        event_ms = min(now_ms, last_event_ms + max(0, now_ms - last_applied_ms))
    return ReadTime(now_ms, event_ms, now_ms - event_ms > catch_up_ms, event_windows)


def unwritable(memory: Mapping[str, object], replication: Mapping[str, object]) -> str:
    """Why a Redis that answers reads would refuse the batch script's writes ("" if not):
    a read-only replica (a failover in progress), or full memory under ``noeviction``."""
    if replication.get("role") not in (None, "master"):
        return "read-only replica"
    limit = int(memory.get("maxmemory", 0) or 0)  # type: ignore[call-overload]
    used = int(memory.get("used_memory", 0) or 0)  # type: ignore[call-overload]
    if limit and used >= limit and memory.get("maxmemory_policy") == "noeviction":
        return f"out of memory ({used} of {limit} bytes, noeviction)"
    return ""


def _dec(x: bytes | str) -> str:
    return x.decode() if isinstance(x, bytes) else x


class WindowReader:
    def __init__(self, client: redis.Redis, keys: Keys, cfg: KpiConfig,
                 clock: Callable[[], float] = time.time, *, catch_up_ms: int = 600_000,
                 event_windows: bool = False, max_rows: int | None = None) -> None:
        self._redis = client
        self._keys = keys
        self._cfg = cfg
        self._clock = clock
        self._catch_up_ms = catch_up_ms
        self._event_windows = event_windows
        self._max_rows = max_rows  # per window and for the live rows: the series budget
        self.reads = 0

    def read_time(self, stats: PipelineStats | None = None) -> ReadTime:
        """Now, by the read clock (one HMGET unless the stats were read already)."""
        if stats is not None:
            last_event = stats.counters.get("last_event_ms")
            last_applied = stats.counters.get("last_applied_ms")
        else:
            raw = self._redis.hmget(self._keys.stats, "last_event_ms", "last_applied_ms")
            self.reads += 1
            last_event, last_applied = (int(r) if r is not None else None for r in raw)
        return read_time(int(self._clock() * 1000), last_event, last_applied,
                         self._catch_up_ms, self._event_windows)

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
        # a dimension key whose fields all went back to zero (a retraction, a conversation
        # that changed labels) holds nothing: it is not a row
        raw = {dk: f for dk, f in self.raw_window(window, at_ms).items() if any(f.values())}
        folded = 0
        if self._max_rows is not None and len(raw) > self._max_rows:
            raw, folded = kpi.fold_rows(raw, self._max_rows)
        rows = {dk: kpi.summarize(fields) for dk, fields in raw.items()}
        return WindowSnapshot(window=window, at_ms=at_ms, rows=rows, folded=folded)

    def all_windows(self, at_ms: int) -> list[WindowSnapshot]:
        return [self.window(w, at_ms) for w in self._cfg.windows]

    def gauges(self, at_ms: int) -> dict[str, dict[str, float | None]]:
        return self.live(at_ms)[0]

    def live(self, at_ms: int) -> tuple[dict[str, dict[str, float | None]], int]:
        """Live queue gauges per gauge dimension key, as of ``at_ms`` for ages and breaches,
        within the series budget (and how many rows it folded into "other").

        A live dimension key (a conversation with state carries its labels) has a row even
        when its queue is empty: 0 open, 0 waiting, 0 breaching and 0 s oldest waiting, so
        an empty queue reads 0, not "no data"."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.smembers(self._keys.gauge_dims)
        pipe.hgetall(self._keys.known_counts)
        pipe.hgetall(self._keys.open_counts)
        members, known_raw, open_raw = pipe.execute()
        dimkeys = sorted(_dec(d) for d in members)
        known = {_dec(k) for k, v in known_raw.items() if int(v) > 0}
        opens = {_dec(k): int(v) for k, v in open_raw.items()}
        pipe = self._redis.pipeline(transaction=False)
        for dk in dimkeys:
            pipe.zcard(self._keys.waiting(dk))
            pipe.zrange(self._keys.waiting(dk), 0, 0, withscores=True)
            pipe.zcount(self._keys.due(dk), "-inf", f"({at_ms}")
        res = pipe.execute()
        self.reads += 3 + len(res)
        out: dict[str, dict[str, float | None]] = {}
        for i, dk in enumerate(dimkeys):
            waiting, oldest, breaching = res[3 * i], res[3 * i + 1], res[3 * i + 2]
            if not opens.get(dk, 0) and not waiting and dk not in known:
                continue
            out[dk] = {
                "open": opens.get(dk, 0),
                "waiting": waiting,
                "oldest_waiting_seconds": max(0.0, (at_ms - oldest[0][1]) / 1000.0)
                if oldest else 0.0,
                "breaching": breaching,
            }
        if self._max_rows is not None and len(out) > self._max_rows:
            return kpi.fold_live(out, self._max_rows)
        return out, 0

    def stats(self) -> PipelineStats:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(self._keys.stats)
        pipe.hgetall(self._keys.offsets)
        pipe.get(self._keys.epoch)
        pipe.hgetall(self._keys.store_info)
        pipe.info("memory")
        pipe.info("replication")
        stats, offsets, epoch, store, memory, replication = pipe.execute()
        return PipelineStats(
            counters={_dec(k): int(v) for k, v in stats.items()},
            offsets={_dec(k): int(v) for k, v in offsets.items()},
            epoch=_dec(epoch) if epoch is not None else None,
            store={_dec(k): _dec(v) for k, v in store.items()},
            unwritable=unwritable(memory, replication),
        )
