"""The worker's periodic self-check: restart in place when the store was lost (noticed
even when no batch comes to be refused), or when a partition it owns (or, owning none, any
partition) is behind Kafka and its Redis watermark has not moved (see
:mod:`streams.liveness`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from streams.liveness import ProgressWatch
from streams.restart import restart_in_place
from streams.seek import OffsetsLookup
from windows.errors import StoreReset, StoreUnavailable
from windows.writer import WindowWriter

log = logging.getLogger(__name__)

TP = tuple[str, int]


def rebuild(exc: StoreReset) -> None:
    """The store lost its data: start over, so the seek path rebuilds the windows."""
    restart_in_place(f"{exc.detail}; rebuilding the windows")


class Supervisor:
    def __init__(self, writer: WindowWriter, offsets: OffsetsLookup, timeout_s: float,
                 assigned: Callable[[], set[TP]]) -> None:
        self._writer = writer
        self._offsets = offsets
        self._timeout_s = timeout_s
        self._assigned = assigned
        self._watch = ProgressWatch(timeout_s)

    @property
    def interval_s(self) -> float:
        return min(5.0, self._timeout_s / 4) if self._timeout_s else 5.0

    async def check(self) -> None:
        try:
            await self._writer.check_epoch()
        except StoreReset as exc:
            rebuild(exc)
        except StoreUnavailable:
            pass  # the processor reports and retries Redis outages
        if not self._timeout_s:
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
