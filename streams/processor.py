"""Batch processing between Kafka and the windows, free of Faust so it can be tested alone.

validate each message → send rejects to the DLQ (once: only offsets above the stored
watermark, and not again while their batch is retried) → apply the batch atomically.
Nothing escapes: Redis outages back off and retry without acknowledging; any other
exception falls back to one-by-one processing where the offending message is
dead-lettered as ``processing_error``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from streams.errors import CustomerTopicUnavailable, DeadLetterUnavailable, InvalidEvent
from streams.retry import pauses
from streams.schema import RawMessage, SchemaConfig, validate_batch
from streams.telemetry import WorkerTelemetry
from windows.errors import StoreConflict, StoreReset, StoreRewound, StoreUnavailable
from windows.writer import ApplyResult

log = logging.getLogger(__name__)


# A dead letter carries the original bytes up to this size (below the 1 MB that Kafka's
# producers and brokers accept by default, headers included); a larger original is cut
# there and says so in `dlq.truncated_from`. It is still in its source topic at
# `dlq.offset` until retention removes it.
DLQ_MAX_VALUE_BYTES = 900_000


# Not faults of a message: they must escape the one-by-one fallback, which would otherwise
# dead-letter good messages as processing errors.
NOT_MESSAGE_FAULTS = (StoreUnavailable, StoreConflict, DeadLetterUnavailable, StoreReset,
                      StoreRewound, CustomerTopicUnavailable)
# Faults of the store, the DLQ or the customers topic that pass: the batch is retried,
# unacknowledged.
RETRIABLE = (StoreUnavailable, StoreConflict, DeadLetterUnavailable, CustomerTopicUnavailable)

# validates a batch's messages: its records (each valid or with its reason) and the rejects
Validate = Callable[..., tuple[Sequence[Any], list[tuple[RawMessage, InvalidEvent]]]]


class BatchWriter(Protocol):
    """What the processor needs of the windows (:class:`windows.writer.WindowWriter`)."""

    async def apply(self, topic: str, partition: int,
                    records: Sequence[Any]) -> ApplyResult: ...

    async def unapplied(self, topic: str, partition: int,
                        offsets: Sequence[int]) -> list[int]: ...


class DeadLetterSink(Protocol):
    async def send(self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Write one message to the DLQ and wait for the broker's acknowledgement."""



class DeadLetterLog:
    """Dead letters in the log: the first of each reason at once (with where and why), then
    one summary line per reason per ``every_s`` (a noisy producer must not flood the log;
    every dead letter is on the DLQ topic and in support_dlq_messages_total)."""

    def __init__(self, clock: Callable[[], float], every_s: float = 60.0) -> None:
        self._clock = clock
        self._every = every_s
        self._since: float | None = None
        self._seen: set[str] = set()
        self._held: dict[str, tuple[int, str]] = {}

    def note(self, reason: str, where: str, detail: str) -> None:
        now = self._clock()
        if self._since is None:
            self._since = now
        if reason not in self._seen:
            self._seen.add(reason)
            log.info("dead-lettered %s: %s (%s); further ones are summarised every %.0fs",
                     where, reason, detail, self._every)
        else:
            n, _ = self._held.get(reason, (0, ""))
            self._held[reason] = (n + 1, f"{where}: {detail}")
        if now - self._since >= self._every:
            for r, (n, example) in sorted(self._held.items()):
                log.info("dead-lettered %d more %s in the last %.0fs (latest %s)", n, r,
                         now - self._since, example)
            self._held.clear()
            self._since = now

class BatchProcessor:
    def __init__(
        self,
        writer: BatchWriter,
        dlq: DeadLetterSink,
        schema: SchemaConfig,
        clock: Callable[[], float],
        telemetry: WorkerTelemetry,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        validate: Validate = validate_batch,
    ) -> None:
        self._writer = writer
        self._validate = validate
        self._dlq = dlq
        self._schema = schema
        self._clock = clock
        self._telemetry = telemetry
        self._sleep = sleep
        self._dlq_log = DeadLetterLog(clock)
        # offsets of the batch being retried that are on the DLQ already: a batch retried
        # ten times (Redis out of memory) dead-letters each bad message once
        self._dead_lettered: dict[tuple[str, int], set[int]] = {}

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def process(
        self, topic: str, partition: int, messages: Sequence[RawMessage]
    ) -> ApplyResult:
        """Process one partition's batch. Raises only on cancellation, :class:`StoreReset`
        (the store lost its data: the worker must rebuild, and retrying here would count
        from zero) and :class:`StoreRewound` (the store went back in time: the worker must
        seek back and re-apply)."""
        started = time.perf_counter()
        waits = pauses(0.1, 5.0)
        while True:
            try:
                try:
                    result = await self._process(topic, partition, messages, forced={})
                except NOT_MESSAGE_FAULTS:
                    raise
                except Exception:
                    log.exception("batch %s:%d failed; retrying one by one", topic, partition)
                    result = await self._one_by_one(topic, partition, messages)
                self._telemetry.store.up()
                # applied: its offsets are at or below the watermark now, never sent again
                self._dead_lettered.pop((topic, partition), None)
                break
            except RETRIABLE as exc:
                # not acknowledged: the batch is retried until Redis and the DLQ take it
                pause = next(waits)
                self._telemetry.store_retries.labels(reason=exc.reason).inc()
                if isinstance(exc, StoreUnavailable):
                    self._telemetry.store.down(exc.reason, exc.detail)
                else:
                    what = "dead-letter topic" if isinstance(exc, DeadLetterUnavailable) \
                        else "customers topic" if isinstance(exc, CustomerTopicUnavailable) \
                        else "Redis"
                    log.warning("%s %s (%s); retrying in %.1fs", what,
                                "busy" if isinstance(exc, StoreConflict) else "unavailable",
                                exc.detail, pause)
                await self._sleep(pause)
        self._telemetry.batch_seconds.observe(time.perf_counter() - started)
        self._telemetry.batch_events.observe(len(messages))
        if result.skipped_offsets:
            self._telemetry.redelivered.inc(result.skipped_offsets)
            log.info("%s:%d: %d redelivered offsets (%d..%d) were already applied; skipped",
                     topic, partition, result.skipped_offsets, messages[0].offset,
                     messages[-1].offset)
        return result

    async def _process(
        self,
        topic: str,
        partition: int,
        messages: Sequence[RawMessage],
        forced: dict[int, InvalidEvent],
    ) -> ApplyResult:
        records, rejects = self._validate(messages, self._schema, self._now_ms, forced)
        if rejects:
            fresh = set(await self._writer.unapplied(topic, partition,
                                                     [m.offset for m, _ in rejects]))
            sent = self._dead_lettered.setdefault((topic, partition), set())
            for m, err in rejects:
                if m.offset in fresh and m.offset not in sent:
                    await self._dead_letter(topic, partition, m, err)
                    sent.add(m.offset)
        return await self._writer.apply(topic, partition, records)

    async def _one_by_one(
        self, topic: str, partition: int, messages: Sequence[RawMessage]
    ) -> ApplyResult:
        total = ApplyResult()
        for m in messages:
            try:
                r = await self._process(topic, partition, [m], forced={})
            except NOT_MESSAGE_FAULTS:
                raise
            except Exception as exc:
                log.exception("message %s:%d@%d cannot be processed", topic, partition, m.offset)
                err = InvalidEvent("processing_error", f"{type(exc).__name__}: {exc}")
                r = await self._process(topic, partition, [m], forced={m.offset: err})
            total.applied += r.applied
            total.duplicates += r.duplicates
            total.late += r.late
            total.rejected += r.rejected
            total.skipped_offsets += r.skipped_offsets
        return total

    async def _dead_letter(
        self, topic: str, partition: int, m: RawMessage, err: InvalidEvent
    ) -> None:
        headers = [
            ("dlq.reason", err.reason.encode()),
            ("dlq.detail", err.detail.encode("utf-8", "replace")[:1000]),
            ("dlq.topic", topic.encode()),
            ("dlq.partition", str(partition).encode()),
            ("dlq.offset", str(m.offset).encode()),
        ]
        value = m.value
        if len(value) > DLQ_MAX_VALUE_BYTES:
            headers.append(("dlq.truncated_from", str(len(value)).encode()))
            value = value[:DLQ_MAX_VALUE_BYTES]
        try:
            await self._dlq.send(m.key, value, headers)
        except Exception as exc:
            raise DeadLetterUnavailable(f"{type(exc).__name__}: {exc}") from exc
        self._telemetry.dlq_sent.labels(reason=err.reason).inc()
        self._dlq_log.note(err.reason, f"{topic}:{partition}@{m.offset}", err.detail)
