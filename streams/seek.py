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
from streams.health import StoreHealth
from streams.marks import Mark, read_marks
from streams.replay_point import KafkaOffsets, lookup_offsets, lost_before_ms, start_offsets
from streams.restart import rewinds_counted
from streams.retry import pauses
from windows.errors import StoreUnavailable
from windows.writer import StoreOpening, WindowWriter

log = logging.getLogger(__name__)

TP = tuple[str, int]
MAX_BACKOFF_S = 5.0


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
                 clock: Callable[[], float], health: StoreHealth) -> None:
        self._cfg = cfg
        self._writer = writer
        self._offsets = offsets
        self._clock = clock
        self._health = health

    async def __call__(self, consumer: Any) -> None:
        mine = sorted(tp for tp in consumer.assignment()
                      if tp.topic in self._cfg.consumed_topics)
        if not mine:
            return
        pairs = [(tp.topic, tp.partition) for tp in mine]
        opening = await self._open(pairs)
        lasts = opening.last_offsets
        bare = [pair for pair, last in zip(pairs, lasts, strict=True) if last is None]
        starts: dict[TP, int | None] = {}
        if opening.lost:
            log.error("partitions %s lost their data in Redis (their slot's epoch copy is "
                      "gone: a node flushed or failed over empty); rebuilding them from %s",
                      ", ".join(opening.lost), self._cfg.replay_point)
        if opening.created or (bare and self._cfg.replay_point.mode != "earliest"):
            starts = await self._replay_starts(opening, bare)
        elif not opening.created:
            starts = await self._behind_kafka(opening, pairs)
        targets, applied = {}, {}
        for tp, pair, last in zip(mine, pairs, lasts, strict=True):
            target = last + 1 if last is not None else starts.get(pair, 0)
            if target is not None:
                targets[tp] = target
            if last is not None:
                applied[tp] = last + 1
            log.info("assigned %s:%d → %s (Redis watermark %s, store epoch %s)", tp.topic,
                     tp.partition, f"seek to {target}" if target is not None
                     else "committed offset", last, opening.epoch)
        await consumer.seek_wait(targets)
        await self._commit_applied(consumer, applied)

    async def _commit_applied(self, consumer: Any, applied: dict[Any, int]) -> None:
        """The group's commit follows the store: what Redis holds is committed now, not
        only when the next record of the partition arrives (a restarted or rebalanced
        worker on a quiet partition would leave its lag wrong for as long)."""
        commit = getattr(consumer, "commit_applied", None)
        if commit is None or not applied:
            return
        try:
            await commit(applied)
        except Exception as exc:  # informative only: the next batch's commit catches up
            log.warning("could not commit the applied offsets after the seek: %s", exc)

    async def _open(self, pairs: Sequence[TP]) -> StoreOpening:
        """Open the store, waiting for as long as it is down, loading, read-only or full:
        the partitions stay where they are (nothing is consumed) and the worker is not
        ready meanwhile; exiting would only hand the same wait to another worker."""
        waits = pauses(0.2, MAX_BACKOFF_S)
        while True:
            try:
                opening = await self._writer.open_store(pairs)
                self._health.up()
                return opening
            except StoreUnavailable as exc:
                self._health.down(exc.reason, f"while positioning the assigned partitions: "
                                  f"{exc.detail}")
                await asyncio.sleep(next(waits))

    async def _behind_kafka(self, opening: StoreOpening, pairs: Sequence[TP]
                            ) -> dict[TP, int | None]:
        """A store that went back in time while no worker watched: the group committed
        past the store's watermark. The seek to watermark + 1 re-applies the difference;
        this counts it, starts a partition the store has no watermark for at the log start
        (not at the committed offset, past what the store lacks), and marks the windows
        incomplete when Kafka no longer holds the missing range."""
        try:
            offsets = await self._offsets(None)
        except Exception as exc:  # cannot tell: the seek to the watermarks still heals
            log.debug("could not compare the store with the committed offsets: %s", exc)
            return {}
        marks = await self._marks()
        starts: dict[TP, int | None] = {}
        lost: list[str] = []
        for pair, last in zip(pairs, opening.last_offsets, strict=True):
            field = f"{pair[0]}:{pair[1]}"
            mark = marks.get(field)
            marked = mark.offset + 1 if mark is not None and mark.epoch == opening.epoch \
                else None
            committed = offsets.committed.get(pair)
            applied = max((o for o in (marked, committed) if o is not None), default=None)
            begin = offsets.beginning.get(pair, 0)
            resume = last + 1 if last is not None else begin
            if applied is None or applied <= resume:
                continue
            if last is None:
                starts[pair] = begin
            log.warning("the store is behind what was applied on %s: its watermark is %s, its "
                        "mark says %s, the group committed %s (Redis went back in time: "
                        "restored or rolled back); re-applying %d offsets from %d", field,
                        last, mark.offset if mark is not None else "nothing", committed,
                        applied - resume, resume)
            if field not in rewinds_counted():  # else counted before the restart
                await self._count(field, applied - resume)
            if last is not None and last + 1 < begin:
                lost.append(f"{field} offsets {last + 1}..{begin - 1}")
        if lost:
            await self._mark_lost(opening, lost)
        return starts

    async def _marks(self) -> dict[str, Mark]:
        """The store's marks (streams.marks); {} when they cannot be read now (the seek to
        the watermarks still heals, it just goes unreported)."""
        c = self._cfg
        try:
            return await asyncio.to_thread(read_marks, c.kafka.bootstrap, c.topic_marks,
                                           c.key_prefix, c.kafka.kafka_python_options())
        except Exception as exc:
            log.warning("could not read the store's marks on %s: %s", c.topic_marks, exc)
            return {}

    async def _count(self, field: str, offsets: int) -> None:
        try:
            await self._writer.record_rewind(field, offsets)
        except StoreUnavailable as exc:
            log.warning("could not count the rewind: %s", exc.detail)

    async def _mark_lost(self, opening: StoreOpening, lost: list[str]) -> None:
        now_ms = int(self._clock() * 1000)
        log.error("the store went back in time and Kafka no longer holds %s: the windows are "
                  "INCOMPLETE for events before now (support_store_complete 0)",
                  ", ".join(lost))
        try:
            await self._writer.describe_store(opening.epoch, str(self._cfg.replay_point),
                                              now_ms, lost_ranges="; ".join(lost))
        except StoreUnavailable as exc:
            log.error("could not mark the store incomplete: %s", exc.detail)

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
        if opening.created or opening.lost:  # what the rebuilt partitions may lack
            await self._describe(opening, lost)
        return starts

    async def _describe(self, opening: StoreOpening, lost: int) -> None:
        point = self._cfg.replay_point
        try:
            await self._writer.describe_store(opening.epoch, str(point), lost)
        except StoreUnavailable as exc:  # not worth failing the rebalance for
            log.error("could not record where epoch %s starts (%s): "
                      "support_store_complete will not report it", opening.epoch, exc.detail)
        what = ("had no epoch (new, flushed or restarted without its data): started epoch "
                if opening.created else f"lost {', '.join(opening.lost)} in epoch ")
        log.warning(
            "Redis store %s %s%s; windows are rebuilt from %s%s",
            self._cfg.key_prefix, what, opening.epoch, point,
            "" if not lost else " and are INCOMPLETE for events before "
            + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(lost / 1000)))
