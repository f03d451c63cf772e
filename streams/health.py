"""Whether this worker can write to the store now.

Shared by the processor (every batch), the seeker (partition assignment) and the
supervisor (the liveness check must not restart a worker that waits on its store: a
restart cures no outage); read by ``support_worker_redis_up`` and the readiness endpoint.
A store that is down, loading, read-only (failover) or out of memory is waited for, never
a reason to exit or to dead-letter an event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import Gauge

log = logging.getLogger(__name__)

REPEAT_LOG_S = 60.0  # while it stays down (or flaps at a memory limit), say so once a minute


class StoreHealth:
    def __init__(self, gauge: Gauge | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._gauge = gauge
        self._clock = clock
        self.ok = True
        self.reason = ""
        self._down_since: float | None = None
        self._logged: float | None = None  # when the outage was last logged

    def bind(self, gauge: Gauge) -> None:
        """Let ``gauge`` (support_worker_redis_up) follow the health from now on."""
        self._gauge = gauge
        gauge.set(1 if self.ok else 0)

    def down(self, reason: str, detail: str) -> None:
        """The store refused a call; log the first time and then once a minute."""
        now = self._clock()
        if self._logged is None or now - self._logged >= REPEAT_LOG_S:
            since = "" if self._down_since is None else \
                f" (for {now - self._down_since:.0f}s)"
            log.warning("Redis unavailable (%s)%s: %s; waiting, nothing is acknowledged",
                        reason, since, detail)
            self._logged = now
        if self._down_since is None:
            self._down_since = now
        self.ok, self.reason = False, reason
        if self._gauge is not None:
            self._gauge.set(0)

    def up(self) -> None:
        if not self.ok:
            since = self._down_since if self._down_since is not None else self._clock()
            waited = self._clock() - since
            if waited >= 1.0:  # not for each write that squeezes in at a memory limit
                log.warning("store available again after %.0fs (%s)", waited, self.reason)
                self._logged = None  # the next outage is news
        self.ok, self.reason, self._down_since = True, "", None
        if self._gauge is not None:
            self._gauge.set(1)
