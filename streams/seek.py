"""Position assigned partitions where Redis says the windows are.

The Kafka commit is only a hint: Redis holds the truth of what was applied. This runs
inside Faust's own ``perform_seek`` (see :class:`streams.app.WatermarkSeekingApp`), right
after its seek to the committed offsets and before the flow resumes. ``seek_wait`` runs
the seeks on the consumer's thread and sets Faust's read offsets, below which it drops
messages; seeking from outside either raced aiokafka's fetcher (KeyError) or was undone by
Faust's later seek to committed (messages silently dropped).

A store without an epoch (new, flushed, restarted empty) is rebuilt from the replay point
(:mod:`streams.replay_point`), and the epoch records what it may lack.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from streams.config import StreamConfig
from streams.replay_point import KafkaOffsets, lookup_offsets, lost_before_ms, start_offsets
from windows.errors import StoreUnavailable
from windows.writer import StoreOpening, WindowWriter

log = logging.getLogger(__name__)

TP = tuple[str, int]
OPEN_ATTEMPTS = 6  # ~6 s: a short Redis blip must not crash the rebalance


class OffsetsLookup:
    """Offsets of every input partition, asked with kafka-python in a thread."""

    def __init__(self, cfg: StreamConfig) -> None:
        self._cfg = cfg

    async def __call__(self, at_ms: int | None, with_committed: bool = True) -> KafkaOffsets:
        c = self._cfg
        return await asyncio.to_thread(lookup_offsets, c.kafka.bootstrap, c.app_id,
                                       sorted(c.input_topics), at_ms,
                                       c.kafka.kafka_python_options(),
                                       with_committed=with_committed)


class WatermarkSeeker:
    def __init__(self, cfg: StreamConfig, writer: WindowWriter, offsets: OffsetsLookup,
                 clock: Callable[[], float]) -> None:
        self._cfg = cfg
        self._writer = writer
        self._offsets = offsets
        self._clock = clock

    async def __call__(self, consumer: Any) -> None:
        mine = sorted(tp for tp in consumer.assignment() if tp.topic in self._cfg.input_topics)
        if not mine:
            return
        pairs = [(tp.topic, tp.partition) for tp in mine]
        opening = await self._open(pairs)
        lasts = opening.last_offsets
        bare = [pair for pair, last in zip(pairs, lasts, strict=True) if last is None]
        starts: dict[TP, int | None] = {}
        if opening.created or (bare and self._cfg.replay_point.mode != "earliest"):
            starts = await self._replay_starts(opening, bare)
        targets = {}
        for tp, pair, last in zip(mine, pairs, lasts, strict=True):
            target = last + 1 if last is not None else starts.get(pair, 0)
            if target is not None:
                targets[tp] = target
            log.info("assigned %s:%d → %s (Redis watermark %s, store epoch %s)", tp.topic,
                     tp.partition, f"seek to {target}" if target is not None
                     else "committed offset", last, opening.epoch)
        await consumer.seek_wait(targets)

    async def _open(self, pairs: Sequence[TP]) -> StoreOpening:
        for attempt in range(OPEN_ATTEMPTS):
            try:
                return await self._writer.open_store(pairs)
            except StoreUnavailable as exc:
                if attempt == OPEN_ATTEMPTS - 1:
                    raise
                log.warning("Redis unavailable while seeking assigned partitions (%s); "
                            "retrying", exc.detail)
                await asyncio.sleep(0.2 * 2 ** attempt)
        raise AssertionError("unreachable")

    async def _replay_starts(self, opening: StoreOpening, bare: list[TP]) -> dict[TP, int | None]:
        """Where partitions without a watermark start; a new epoch records what it lacks."""
        point = self._cfg.replay_point
        now_ms = int(self._clock() * 1000)
        at_ms = now_ms - point.back_ms if point.mode == "duration" else None
        try:
            offsets = await self._offsets(at_ms)
            starts = start_offsets(point, offsets, bare)
            lost = lost_before_ms(point, offsets, now_ms)
        except Exception as exc:  # cannot tell: start from the log start, say unknown
            log.warning("could not look up the replay point (%s); starting the "
                        "partitions without a watermark from the earliest offset", exc)
            starts, lost = {pair: 0 for pair in bare}, now_ms
        if opening.created:
            await self._describe(opening, lost)
        return starts

    async def _describe(self, opening: StoreOpening, lost: int) -> None:
        point = self._cfg.replay_point
        try:
            await self._writer.describe_store(opening.epoch, str(point), lost)
        except StoreUnavailable as exc:  # not worth failing the rebalance for
            log.error("could not record where epoch %s starts (%s): "
                      "support_store_complete will not report it", opening.epoch, exc.detail)
        log.warning(
            "Redis store %s had no epoch (new, flushed or restarted without its "
            "data): started epoch %s; windows are rebuilt from %s%s",
            self._cfg.key_prefix, opening.epoch, point,
            "" if not lost else " and are INCOMPLETE for events before "
            + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(lost / 1000)))
