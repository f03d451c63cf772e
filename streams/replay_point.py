"""Where a partition without a Redis watermark starts, and what the store then lacks.

A partition has no watermark when Redis is new, was flushed, or restarted without its
data (the store's epoch tells those apart from a worker's point of view: it is created
anew). Its windows are then rebuilt from ``SUPPORT_REPLAY_FROM``:

* ``earliest``: everything Kafka still retains. Complete if no partition has lost its
  first records to retention.
* ``committed``: the consumer group's committed offsets (no replay; what Kafka would
  do). Anything before is missing, so the store is marked incomplete unless the group
  had committed nothing (a first start).
* a duration such as ``24h``: that far back from now (by record timestamps).

``lost_before_ms`` is the event time before which windows may lack events (0 = none);
the exporter turns it into ``support_store_complete{window}``, so a wall display says
"incomplete" for exactly the windows reaching back past it. Where the exact time is not
known cheaply (records lost to retention) it is the time of the rebuild: conservative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kpi.config import parse_duration_ms

TP = tuple[str, int]


@dataclass(frozen=True)
class ReplayPoint:
    mode: str  # "earliest" | "committed" | "duration"
    back_ms: int = 0

    @classmethod
    def parse(cls, text: str) -> ReplayPoint:
        """``earliest``, ``committed`` or a duration (``24h``); raises ValueError."""
        t = text.strip().lower()
        if t in ("earliest", "committed"):
            return cls(t)
        try:
            back = parse_duration_ms(t)
        except ValueError:
            raise ValueError(f"expected earliest, committed or a duration such as 24h, "
                             f"got {text!r}") from None
        return cls("duration", back)

    def __str__(self) -> str:
        return self.mode if self.mode != "duration" else f"{self.back_ms // 1000}s back"


@dataclass(frozen=True)
class KafkaOffsets:
    """What Kafka says of the input partitions when the store has to be rebuilt."""

    beginning: Mapping[TP, int]
    end: Mapping[TP, int]
    committed: Mapping[TP, int | None]
    by_time: Mapping[TP, int | None]  # first offset at or after the replay time


def start_offsets(point: ReplayPoint, offsets: KafkaOffsets, partitions: list[TP]
                  ) -> dict[TP, int | None]:
    """Offset each unwatermarked partition starts from; None = leave it where Faust put
    it (the committed offset, or the reset policy without one)."""
    out: dict[TP, int | None] = {}
    for tp in partitions:
        if point.mode == "earliest":
            out[tp] = offsets.beginning.get(tp, 0)
        elif point.mode == "committed":
            out[tp] = None
        else:
            at = offsets.by_time.get(tp)
            out[tp] = at if at is not None else offsets.end.get(tp, 0)
    return out


def lost_before_ms(point: ReplayPoint, offsets: KafkaOffsets, now_ms: int) -> int:
    """Event time before which a store rebuilt from ``point`` may lack events; 0 when it
    will hold everything ever sent."""
    truncated = [tp for tp, b in offsets.beginning.items() if b > 0]
    if point.mode == "earliest":
        return now_ms if truncated else 0
    if point.mode == "committed":
        first_start = all(c is None for c in offsets.committed.values())
        return 0 if first_start and not truncated else now_ms
    start = now_ms - point.back_ms
    starts = start_offsets(point, offsets, list(offsets.by_time))
    skipped = any(o is not None and o > offsets.beginning.get(tp, 0) for tp, o in starts.items())
    if truncated and any(offsets.by_time.get(tp) == offsets.beginning.get(tp)
                         for tp in truncated):
        return now_ms  # retention already took records newer than the replay time
    return start if skipped else 0


def lookup_offsets(bootstrap: str, group: str, topics: Sequence[str], at_ms: int | None,
                   options: Mapping[str, Any], *, with_committed: bool = True) -> KafkaOffsets:
    """Blocking (run it in a thread): beginning, end, committed and by-time offsets of
    every partition of ``topics``, with a short-lived kafka-python consumer that never
    joins the group. Raises when the broker cannot be reached."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False, request_timeout_ms=10_000,
                             **options)
    try:
        tps = []
        for t in topics:
            parts = consumer.partitions_for_topic(t)
            if parts is None:
                raise KafkaError(f"topic {t} is unknown to the broker")
            tps += [TopicPartition(t, p) for p in sorted(parts)]
        beginning = consumer.beginning_offsets(tps)
        end = consumer.end_offsets(tps)
        committed = {tp: consumer.committed(tp) for tp in tps} if with_committed else {}
        by_time: dict[Any, Any] = {}
        if at_ms is not None:
            found = consumer.offsets_for_times({tp: at_ms for tp in tps})
            by_time = {tp: (o.offset if o is not None else None) for tp, o in found.items()}

        def key(tp: Any) -> TP:
            return (tp.topic, tp.partition)

        return KafkaOffsets(beginning={key(tp): o for tp, o in beginning.items()},
                            end={key(tp): o for tp, o in end.items()},
                            committed={key(tp): o for tp, o in committed.items()},
                            by_time={key(tp): o for tp, o in by_time.items()})
    finally:
        consumer.close()
