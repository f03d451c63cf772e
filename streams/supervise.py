"""The worker's periodic self-check: restart in place when the store was lost (noticed
even when no batch comes to be refused), or when a partition it owns (or, owning none, any
partition) is behind Kafka and its Redis watermark has not moved (see
:mod:`streams.liveness`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from streams.health import StoreHealth
from streams.liveness import ProgressWatch
from streams.restart import restart_in_place
from streams.seek import OffsetsLookup
from windows.errors import StoreReset, StoreRewound, StoreUnavailable
from windows.guard import EvictionGuard
from windows.writer import WindowWriter

log = logging.getLogger(__name__)

TP = tuple[str, int]


def rebuild(exc: StoreReset) -> None:
    """The store lost its data: start over, so the seek path rebuilds the windows."""
    restart_in_place(f"{exc.detail}; rebuilding the windows")


async def rewind(writer: WindowWriter, exc: StoreRewound) -> None:
    """The store went back in time: count it, then start over, so the seek path positions
    every partition at the store's watermark + 1 and re-applies what the rollback lost."""
    missing = exc.applied - (exc.store_last if exc.store_last is not None else -1)
    try:
        await writer.record_rewind(exc.partition, missing)
    except StoreUnavailable as err:  # counting is not worth waiting for
        log.warning("could not count the rewind: %s", err.detail)
    restart_in_place(f"{exc.detail}; re-applying {missing} offsets of {exc.partition} "
                     f"from Kafka (after {exc.store_last})", rewound=exc.partition)


# health reasons the periodic check itself decides (and so may clear)
CHECKED_REASONS = ("redis_unavailable", "eviction_policy", "evicted_keys")


class Supervisor:
    def __init__(self, writer: WindowWriter, offsets: OffsetsLookup, timeout_s: float,
                 assigned: Callable[[], set[TP]], health: StoreHealth,
                 guard: EvictionGuard | None = None) -> None:
        self._writer = writer
        self._offsets = offsets
        self._timeout_s = timeout_s
        self._assigned = assigned
        self._health = health
        self._guard = guard
        self._watch = ProgressWatch(timeout_s)

    @property
    def interval_s(self) -> float:
        return min(5.0, self._timeout_s / 4) if self._timeout_s else 5.0

    async def check_store(self) -> None:
        """Whether the store can be written at all, even when no batch comes to find out: a
        worker with no partitions (or an idle one) is not ready while Redis is down, and
        one whose Redis evicts keys refuses to write (windows.guard)."""
        if self._guard is None:
            return
        try:
            refusal = await self._guard.check()
        except StoreUnavailable as exc:
            self._health.down(exc.reason, f"the periodic check: {exc.detail}")
            return
        if refusal is not None:
            self._health.down(*refusal)
        elif not self._health.ok and self._health.reason in CHECKED_REASONS:
            self._health.up()

    async def check(self) -> None:
        await self.check_store()
        try:
            await self._writer.check_epoch()
            await self._writer.check_rewound()
        except StoreReset as exc:
            rebuild(exc)
        except StoreRewound as exc:
            await rewind(self._writer, exc)
        except StoreUnavailable:
            pass  # the processor reports and retries Redis outages
        if not self._timeout_s:
            return
        if not self._health.ok:  # waiting on the store: a restart would not cure it
            self._watch.forget()
            return
        try:
            ends = (await self._offsets(None, with_committed=False)).end
            everything = sorted(ends)
            lasts = await self._writer.last_offsets(everything)
            mine = self._assigned()
        except Exception as exc:  # an outage: a restart would not cure it
            log.debug("liveness check skipped: %s", exc)
            self._watch.forget()
            return
        judged = {pair: last for pair, last in zip(everything, lasts, strict=True)
                  if pair in mine or not mine}
        stalled = self._watch.stalled(time.monotonic(), judged, ends)
        if stalled:
            names = ", ".join(f"{t}:{p}" for t, p in stalled)
            restart_in_place(f"no progress for {self._timeout_s:.0f}s on {names} "
                             "while Kafka holds newer records")
