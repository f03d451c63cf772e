"""How a history arrives at the worker: which partition a conversation's events land on,
and which of them the lateness policy drops.

The worker keeps, per topic partition, the newest event time it accepted and drops an
event more than the allowed lateness older than that (``late_dropped``). A history sent
in another order than event time (a vendor export in case order) can lose most of its
events that way without any error, so ``replay`` and ``import`` predict it here before
they send anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka.partitioner.default import murmur2


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner for a keyed message (murmur2, positive, modulo)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass
class LateCounter:
    """The worker's lateness rule, replayed over arrivals in sending order."""

    allowed_lateness_ms: int
    partitions: dict[str, int]  # topic → its partition count
    late: int = 0
    _newest: dict[tuple[str, int], int] = field(default_factory=dict)

    def arrive(self, topic: str, key: bytes, t_ms: int) -> bool:
        """Record one arrival; whether the worker would drop it as late."""
        where = (topic, partition_of(key, self.partitions.get(topic, 1)) if key else 0)
        top = self._newest.get(where)
        if top is not None and t_ms < top - self.allowed_lateness_ms:
            self.late += 1
            return True
        self._newest[where] = t_ms if top is None else max(top, t_ms)
        return False


def count_late(arrivals: Iterable[tuple[str, bytes, int | None]], allowed_lateness_ms: int,
               partitions: dict[str, int]) -> int:
    """Events of ``(topic, key, event time)`` arrivals the worker would drop as late;
    arrivals without a time (invalid lines, dead-lettered anyway) are not counted."""
    counter = LateCounter(allowed_lateness_ms, partitions)
    for topic, key, t_ms in arrivals:
        if t_ms is not None:
            counter.arrive(topic, key, t_ms)
    return counter.late


def time_order(times: list[int | None]) -> list[int]:
    """Indices in the order ``replay`` sends a history sorted by event time (stable: equal
    times keep the file's order; lines without a time, dead-lettered anyway, first), so
    the oracle can model exactly that arrival."""
    def key(i: int) -> int:
        t = times[i]
        return -1 if t is None else t

    return sorted(range(len(times)), key=key)
