"""Progress-based liveness: restart the worker when it is behind and not moving.

aiokafka has had consumers that never rejoin their group after a broker restart; the
process looks alive while its partitions sit still. A heartbeat cannot see that; only
progress can. A partition is *stalled* when Kafka holds records past its Redis watermark
and the watermark has not moved for ``timeout_s``. The check only judges when it knows
both sides: while Kafka or Redis cannot be asked (an outage, which a restart would not
cure) its clocks start over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TP = tuple[str, int]


@dataclass
class ProgressWatch:
    timeout_s: float
    _since: dict[TP, tuple[float, int | None]] = field(default_factory=dict)

    def forget(self) -> None:
        """Kafka or Redis could not be asked: no judgement, every clock starts over."""
        self._since.clear()

    def stalled(self, now: float, applied: Mapping[TP, int | None],
                end: Mapping[TP, int]) -> list[TP]:
        """Partitions behind and unmoved for the timeout. ``applied`` is the last offset
        in Redis (None: nothing yet) of the partitions to judge, ``end`` Kafka's end."""
        out: list[TP] = []
        for tp, last in applied.items():
            behind = end.get(tp, 0) > (last + 1 if last is not None else 0)
            seen = self._since.get(tp)
            if not behind or seen is None or seen[1] != last:
                self._since[tp] = (now, last)
            elif now - seen[0] >= self.timeout_s:
                out.append(tp)
        for tp in set(self._since) - set(applied):
            del self._since[tp]
        return sorted(out)
