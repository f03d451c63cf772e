"""What the store held, marked outside it: the applied offsets of each partition on a
compacted Kafka topic (``SUPPORT_TOPIC_MARKS``, key ``<prefix>|<topic>:<partition>``).

Redis restored from an older snapshot, or a rollback, while no worker runs leaves a store
whose watermark is behind what was applied, and nothing in the store can tell (the epoch
came back with it). The group's committed offsets could, but they are a hint others may
reset, and they expire with an idle group; a mark is the store's own record, written by the
worker that applied the offsets (at most :data:`MARK_INTERVAL_S` behind it). At start-up and
at every rebalance :mod:`streams.seek` compares the store with its marks (and the commits):
a store behind them is re-applied from Kafka, logged and counted, and reported incomplete
for the offsets Kafka no longer holds.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# How often a worker marks what it applied (only partitions that moved)
MARK_INTERVAL_S = 1.0
READ_TIMEOUT_S = 30.0
Send = Callable[[bytes | None, bytes], Awaitable[None]]


@dataclass(frozen=True)
class Mark:
    epoch: str
    offset: int  # the last applied offset


def mark_key(prefix: str, field: str) -> bytes:
    return f"{prefix}|{field}".encode()


class MarkWriter:
    """Sends, every :data:`MARK_INTERVAL_S`, the applied offsets that moved since."""

    def __init__(self, applied: Callable[[], tuple[str | None, Mapping[str, int]]],
                 send: Send, prefix: str) -> None:
        self._applied = applied  # the writer's epoch and its applied offsets
        self._send = send
        self._prefix = prefix
        self._sent: dict[str, tuple[str, int]] = {}

    async def tick(self) -> None:
        epoch, applied = self._applied()
        if epoch is None:
            return
        for field, offset in sorted(applied.items()):
            if self._sent.get(field) == (epoch, offset):
                continue
            try:
                await self._send(mark_key(self._prefix, field),
                                 json.dumps({"epoch": epoch, "offset": offset}).encode())
            except Exception as exc:  # the next tick sends it again
                log.debug("could not mark %s: %s", field, exc)
                return
            self._sent[field] = (epoch, offset)


def read_marks(bootstrap: str, topic: str, prefix: str,
               options: Mapping[str, Any]) -> dict[str, Mark]:
    """Blocking (run it in a thread): the newest mark of each partition field of the store
    ``prefix``, read to the topic's end offsets; {} when the topic does not exist yet."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             request_timeout_ms=10_000, **options)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic)
                                                        or ())]
        if not tps:
            return {}
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        marks: dict[str, Mark] = {}
        want = f"{prefix}|"
        deadline = time.monotonic() + READ_TIMEOUT_S
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to its end in {READ_TIMEOUT_S:.0f}s")
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    key = (r.key or b"").decode(errors="replace")
                    if key.startswith(want) and r.value:
                        doc = json.loads(r.value)
                        marks[key[len(want):]] = Mark(str(doc["epoch"]), int(doc["offset"]))
        return marks
    finally:
        consumer.close()
