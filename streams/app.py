"""``create_app(settings)``: the Faust app, its topics and agents, built on demand.

No global app is imported anywhere: the worker CLI, the tests and the benchmarks each
build their own, with their own settings (topic names, Redis prefix, group id).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust
import redis
import redis.asyncio as aioredis
from faust.types import TP, ConsumerT, EventT, TopicT

from alerts.notify import HttpNotifier
from alerts.rules import Rule
from alerts.runner import AlertRunner
from streams.liveness import ProgressWatch
from streams.processor import BatchProcessor, RawMessage
from streams.replay_point import KafkaOffsets, lookup_offsets, lost_before_ms, start_offsets
from streams.restart import restart_in_place
from streams.telemetry import WorkerTelemetry
from supportkpi.settings import Settings
from windows.errors import StoreReset, StoreUnavailable
from windows.keys import Keys
from windows.reader import WindowReader
from windows.writer import WindowWriter

log = logging.getLogger(__name__)


class FaustDeadLetterSink:
    """Writes to the DLQ topic with Faust's producer and waits for the broker's ack."""

    def __init__(self, topic: TopicT) -> None:
        self._topic = topic

    async def send(self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        fut = await self._topic.send(key=key, value=value, headers=headers)
        await fut


class WatermarkSeekingApp(faust.App):
    """A Faust app whose consumer, every time Faust seeks it to the committed offsets
    (after each rebalance, and when a fetch runs while the flow is stopped), then seeks
    it on to where Redis says the windows are (``after_seek``)."""

    after_seek: Callable[[ConsumerT], Awaitable[None]] | None = None

    def _new_consumer(self) -> ConsumerT:
        consumer = super()._new_consumer()
        faust_seek = consumer.perform_seek

        async def perform_seek() -> None:
            await faust_seek()
            if self.after_seek is not None:
                await self.after_seek(consumer)

        consumer.perform_seek = perform_seek  # type: ignore[method-assign]
        return consumer


def broker_credentials(settings: Settings) -> Any:
    """Faust's credentials for SUPPORT_KAFKA_SECURITY_PROTOCOL (None for PLAINTEXT)."""
    import ssl

    protocol = settings.kafka_security_protocol
    context = None
    if protocol in ("SSL", "SASL_SSL"):
        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        context = ssl.create_default_context(cafile=cafile)
    if protocol.startswith("SASL_"):
        assert settings.kafka_password is not None
        return faust.SASLCredentials(username=settings.kafka_username,
                                     password=settings.kafka_password.get_secret_value(),
                                     mechanism=settings.kafka_sasl_mechanism,
                                     ssl_context=context)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return None


def create_app(
    settings: Settings,
    telemetry: WorkerTelemetry,
    *,
    clock: Callable[[], float] = time.time,
    rules: Sequence[Rule] = (),
) -> faust.App:
    app = WatermarkSeekingApp(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        datadir=str(settings.data_dir),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=10_000,
        broker_commit_interval=1.0,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
        stream_buffer_maxsize=max(4096, settings.batch_max * 4),
        producer_acks=-1,
        topic_allow_declare=True,
        broker_credentials=broker_credentials(settings),
    )
    redis_client = aioredis.Redis.from_url(settings.redis_url, **settings.redis_options())
    writer = WindowWriter(
        redis_client,
        Keys(settings.key_prefix),
        settings.kpi_config(),
        clock,
    )
    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
           "value_serializer": "raw"}
    tickets = app.topic(settings.topic_tickets, **raw)  # type: ignore[arg-type]
    chats = app.topic(settings.topic_chats, **raw)  # type: ignore[arg-type]
    dlq = app.topic(settings.topic_dlq, **raw)  # type: ignore[arg-type]
    processor = BatchProcessor(writer, FaustDeadLetterSink(dlq), settings.schema_config(), clock,
                               telemetry)
    input_topics = set(settings.input_topics)

    crash_point, _, crash_n = settings.test_crash_at.partition(":")
    batches = {"n": 0}

    replay_point = settings.replay_point()
    kafka_options = settings.kafka_python_options()

    async def kafka_offsets(at_ms: int | None, with_committed: bool = True) -> KafkaOffsets:
        """Offsets of every input partition, asked with kafka-python in a thread."""
        return await asyncio.to_thread(lookup_offsets, settings.kafka_bootstrap,
                                       settings.app_id, sorted(input_topics), at_ms,
                                       kafka_options, with_committed=with_committed)

    def rebuild(exc: StoreReset) -> None:
        """The store lost its data: start over, so the seek path rebuilds the windows."""
        restart_in_place(f"{exc.detail}; rebuilding the windows")

    def test_fault_exit(what: str, topic: str, partition: int, last: int) -> None:
        """Test-only (SUPPORT_TEST_CRASH_AT): die at once, as a kill would, saying where."""
        log.warning("TEST FAULT: %s:%d up to %d %s", topic, partition, last, what)
        logging.shutdown()
        os._exit(70)

    async def handle(events: Sequence[EventT]) -> None:
        by_tp: dict[tuple[str, int], list[RawMessage]] = defaultdict(list)
        for ev in events:
            m = ev.message
            value = m.value if isinstance(m.value, bytes) else bytes(m.value or b"")
            by_tp[(m.topic, m.partition)].append(RawMessage(m.offset, m.key, value))
        for (topic, partition), msgs in by_tp.items():
            batches["n"] += 1
            at_fault = bool(crash_point) and batches["n"] == int(crash_n)
            if at_fault and crash_point == "before_write":  # Kafka says done, Redis never saw it
                await app.consumer._commit(  # type: ignore[attr-defined]
                    {TP(topic, partition): msgs[-1].offset + 1})
                test_fault_exit("committed to Kafka; exiting before the Redis write",
                                topic, partition, msgs[-1].offset)
            if at_fault and crash_point == "stall":  # a wedged agent: alive, never progressing
                log.warning("TEST FAULT: %s:%d stalls before offset %d", topic, partition,
                            msgs[0].offset)
                await asyncio.Event().wait()
            try:
                await processor.process(topic, partition, msgs)
            except StoreReset as exc:
                rebuild(exc)
            if at_fault and crash_point == "after_write":
                test_fault_exit("is in Redis; exiting before Kafka acks it", topic, partition,
                                msgs[-1].offset)
            try:
                highwater = app.consumer.highwater(TP(topic, partition))
                if highwater is not None:
                    lag = max(0, highwater - msgs[-1].offset - 1)
                    telemetry.consumer_lag.labels(topic=topic, partition=str(partition)).set(lag)
            except Exception:  # lag is informative only; never let it stop the agent
                log.debug("no highwater for %s:%d", topic, partition)

    @app.agent(tickets, name="tickets")
    async def tickets_agent(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, settings.batch_within):
            await handle(events)

    @app.agent(chats, name="chats")
    async def chats_agent(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, settings.batch_within):
            await handle(events)

    async def seek_to_watermarks(consumer: ConsumerT) -> None:
        # The Kafka commit is only a hint: Redis holds the truth of what was applied.
        # This runs inside Faust's own perform_seek, right after its seek to the committed
        # offsets and before the flow resumes (see WatermarkSeekingApp). seek_wait runs the
        # seeks on the consumer's thread and sets Faust's read offsets, below which it
        # drops messages; seeking from outside either raced aiokafka's fetcher (KeyError)
        # or was undone by Faust's later seek to committed (messages silently dropped).
        mine = sorted(tp for tp in consumer.assignment() if tp.topic in input_topics)
        if not mine:
            return
        pairs = [(tp.topic, tp.partition) for tp in mine]
        for attempt in range(6):  # ~6 s: a short Redis blip must not crash the rebalance
            try:
                opening = await writer.open_store(pairs)
                break
            except StoreUnavailable as exc:
                if attempt == 5:
                    raise
                log.warning("Redis unavailable while seeking assigned partitions (%s); "
                            "retrying", exc.detail)
                await asyncio.sleep(0.2 * 2 ** attempt)
        lasts = opening.last_offsets
        bare = [pair for pair, last in zip(pairs, lasts, strict=True) if last is None]
        starts: dict[tuple[str, int], int | None] = {}
        if opening.created or (bare and replay_point.mode != "earliest"):
            now_ms = int(clock() * 1000)
            at_ms = now_ms - replay_point.back_ms if replay_point.mode == "duration" else None
            try:
                offsets = await kafka_offsets(at_ms)
                starts = start_offsets(replay_point, offsets, bare)
                lost = lost_before_ms(replay_point, offsets, now_ms)
            except Exception as exc:  # cannot tell: start from the log start, say unknown
                log.warning("could not look up the replay point (%s); starting the "
                            "partitions without a watermark from the earliest offset", exc)
                starts, lost = {pair: 0 for pair in bare}, now_ms
            if opening.created:
                try:
                    await writer.describe_store(opening.epoch, str(replay_point), lost)
                except StoreUnavailable as exc:  # not worth failing the rebalance for
                    log.error("could not record where epoch %s starts (%s): "
                              "support_store_complete will not report it", opening.epoch,
                              exc.detail)
                log.warning(
                    "Redis store %s had no epoch (new, flushed or restarted without its "
                    "data): started epoch %s; windows are rebuilt from %s%s",
                    settings.key_prefix, opening.epoch, replay_point,
                    "" if not lost else " and are INCOMPLETE for events before "
                    + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(lost / 1000)))
        targets = {}
        for tp, pair, last in zip(mine, pairs, lasts, strict=True):
            target = last + 1 if last is not None else starts.get(pair, 0)
            if target is not None:
                targets[tp] = target
            log.info("assigned %s:%d → %s (Redis watermark %s, store epoch %s)", tp.topic,
                     tp.partition, f"seek to {target}" if target is not None
                     else "committed offset", last, opening.epoch)
        await consumer.seek_wait(targets)

    app.after_seek = seek_to_watermarks

    if rules:
        alerts_topic = app.topic(settings.topic_alerts, **raw)  # type: ignore[arg-type]

        async def publish(doc: dict[str, Any]) -> None:
            fut = await alerts_topic.send(key=str(doc["rule"]).encode(),
                                          value=json.dumps(doc).encode())
            await fut

        runner = AlertRunner(
            rules,
            WindowReader(redis.Redis.from_url(settings.redis_url, **settings.redis_options()),
                         Keys(settings.key_prefix), settings.kpi_config()),
            redis_client, Keys(settings.key_prefix), clock, publish,
            HttpNotifier(settings.alertmanager_url, settings.alert_webhook_url),
            interval_s=settings.alert_interval, resend_s=settings.alert_resend)

        @app.timer(settings.alert_interval)
        async def evaluate_alerts() -> None:
            try:
                await runner.tick()
            except Exception:  # an alert bug must not stop the stream
                log.exception("alert evaluation failed")

    watch = ProgressWatch(settings.liveness_timeout)

    @app.timer(min(5.0, settings.liveness_timeout / 4) if settings.liveness_timeout else 5.0)
    async def check_store_and_progress() -> None:
        """Restart in place when Redis lost the store (noticed here even when no batch
        comes to be refused), or when a partition this worker owns (or, owning none, any
        partition) is behind Kafka and its Redis watermark has not moved."""
        try:
            await writer.check_epoch()
        except StoreReset as exc:
            rebuild(exc)
        except StoreUnavailable:
            pass  # the processor reports and retries Redis outages
        if not settings.liveness_timeout:
            return
        try:
            ends = (await kafka_offsets(None, with_committed=False)).end
            everything = sorted(ends)
            lasts = await writer.last_offsets(everything)
            mine = {(tp.topic, tp.partition) for tp in app.consumer.assignment()
                    if tp.topic in input_topics}
        except Exception as exc:  # an outage: a restart would not cure it
            log.debug("liveness check skipped: %s", exc)
            watch.forget()
            return
        judged = {pair: last for pair, last in zip(everything, lasts, strict=True)
                  if pair in mine or not mine}
        stalled = watch.stalled(time.monotonic(), judged, ends)
        if stalled:
            names = ", ".join(f"{t}:{p}" for t, p in stalled)
            restart_in_place(f"no progress for {settings.liveness_timeout:.0f}s on {names} "
                             "while Kafka holds newer records")

    return app
