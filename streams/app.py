"""``create_app(cfg)``: the Faust app, its topics and agents, built on demand.

No global app is imported anywhere: the worker, the tests and the benchmarks each build
their own, with their own :class:`streams.config.StreamConfig` (topic names, Redis prefix,
group id). What is not a Faust concern lives beside it: where assigned partitions start
(:mod:`streams.seek`), the periodic self-check (:mod:`streams.supervise`), the batch work
(:mod:`streams.processor`) and the test-only fault hooks (:mod:`streams.faults`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust
from faust.types import TP, ConsumerT, EventT, TopicT

from streams.agent_schema import validate_agents
from streams.config import StreamConfig
from streams.customers import ContactSink, validate_contacts
from streams.faults import Faults
from streams.marks import MARK_INTERVAL_S, MarkWriter
from streams.processor import BatchProcessor, RawMessage
from streams.seek import OffsetsLookup, WatermarkSeeker
from streams.supervise import Supervisor, rebuild, rewind
from streams.take import take_batches
from streams.telemetry import WorkerTelemetry
from streams.transport import SCHEME, BatchConsumer
from windows.agents import AgentWriter
from windows.clients import connect_async
from windows.customers import CustomerWriter
from windows.errors import StoreReset, StoreRewound
from windows.guard import EvictionGuard
from windows.keys import Keys
from windows.writer import WindowWriter

log = logging.getLogger(__name__)

RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
       "value_serializer": "raw"}
# sends (key, value) to a topic and waits for the broker's ack
Send = Callable[[bytes | None, bytes], Awaitable[None]]


class FaustDeadLetterSink:
    """Writes to the DLQ topic with Faust's producer and waits for the broker's ack."""

    def __init__(self, topic: TopicT) -> None:
        self._topic = topic

    async def send(self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        fut = await self._topic.send(key=key, value=value, headers=headers)
        await fut


# How many records one take joins (fetched lists, each one partition's share of one fetch:
# at a high rate the take fills at once, at a low one ``batch_within`` ends it:
# streams.take), how many lists a stream buffer holds, and how many records a fetch
# returns: cfg.memory (sized by the memory budget, streams.config.memory_plan), which also
# bounds what a stop (Faust waits for every buffered event to be acked) or a rebalance has
# to finish first.
# how often the commit bookkeeping's size is put on /metrics
COMMIT_REPORT_S = 2.0


class WatermarkSeekingApp(faust.App):
    """A Faust app whose consumer, every time Faust seeks it to the committed offsets
    (after each rebalance, and when a fetch runs while the flow is stopped), then seeks
    it on to where Redis says the windows are (``after_seek``). Its input topics are
    delivered in batches (``batch_topics``, read by :mod:`streams.transport`)."""

    after_seek: Callable[[ConsumerT], Awaitable[None]] | None = None
    batch_topics: frozenset[str] = frozenset()

    def _new_consumer(self) -> ConsumerT:
        consumer = super()._new_consumer()
        faust_seek = consumer.perform_seek

        async def perform_seek() -> None:
            await faust_seek()
            if self.after_seek is not None:
                await self.after_seek(consumer)

        consumer.perform_seek = perform_seek  # type: ignore[method-assign]
        return consumer


def raw_topic(app: faust.App, name: str) -> TopicT:
    return app.topic(name, **RAW)  # type: ignore[arg-type]


def topic_sender(app: faust.App, name: str) -> Send:
    """A coroutine that produces to ``name`` through the app's producer (e.g. the alerts
    topic, for the alert runner's publisher)."""
    topic = raw_topic(app, name)

    async def send(key: bytes | None, value: bytes) -> None:
        fut = await topic.send(key=key, value=value)
        await fut

    return send


def _new_app(cfg: StreamConfig) -> WatermarkSeekingApp:
    return WatermarkSeekingApp(
        cfg.app_name,
        broker=f"{SCHEME}://{cfg.kafka.bootstrap}",
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        datadir=str(cfg.data_dir),
        topic_partitions=cfg.topic_partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=10_000,
        broker_commit_interval=1.0,
        broker_session_timeout=cfg.session_timeout,
        broker_heartbeat_interval=min(3.0, cfg.session_timeout / 3),
        stream_buffer_maxsize=cfg.memory.buffered_fetches,
        broker_max_poll_records=cfg.memory.fetch_records,
        producer_acks=-1,
        topic_allow_declare=True,
        broker_credentials=cfg.kafka.faust_credentials(),
        # No leader-election topic: nothing here uses Faust's leader (the alert lease is in
        # Redis), and its always-empty partition is what the consumer fetched while the data
        # partitions still had buffered records, with Faust's fixed 1.5 s fetch wait: a
        # ~1 s stall on every batch under load (issue 18's measurement)
        topic_disable_leader=True,
    )


class PassThrough(faust.Schema):
    """The batch topics' schema: the event's value is the transport's tuple of
    :class:`RawMessage`, handed on undecoded (the processor validates each value)."""

    def loads_key(self, app: Any, message: Any, **_: Any) -> Any:
        return message.key

    def loads_value(self, app: Any, message: Any, **_: Any) -> Any:
        return message.value


def _by_partition(events: Sequence[EventT], limit: int
                  ) -> list[tuple[tuple[str, int], list[RawMessage]]]:
    """The coalesced fetches, one list per partition in offset order, cut into batches of
    at most ``limit`` messages (the size of one script call)."""
    by_tp: dict[tuple[str, int], list[RawMessage]] = defaultdict(list)
    for ev in events:
        m = ev.message
        batch: tuple[RawMessage, ...] = m.value  # type: ignore[assignment]
        by_tp[(m.topic, m.partition)].extend(batch)
    return [(tp, msgs[i:i + limit]) for tp, msgs in by_tp.items()
            for i in range(0, len(msgs), limit)]


def create_app(cfg: StreamConfig, telemetry: WorkerTelemetry, *,
               clock: Callable[[], float] = time.time) -> faust.App:
    app = _new_app(cfg)
    client = connect_async(cfg.redis_url, **cfg.redis_options)
    dlq = FaustDeadLetterSink(raw_topic(app, cfg.topic_dlq))
    emit = ContactSink(_sender(app, cfg.topic_customers), cfg.topic_partitions) \
        if cfg.topic_customers else None
    writer = WindowWriter(client, Keys(cfg.key_prefix), cfg.kpi, clock,
                          view_cache=cfg.memory.view_cache, emit=emit)
    processor = BatchProcessor(writer, dlq, cfg.schema, clock, telemetry)

    async def commit(topic: str, partition: int, offset: int) -> None:
        await app.consumer._commit({TP(topic, partition): offset})  # type: ignore[attr-defined]

    faults = Faults(cfg.test_crash_at, commit)
    handle = _handler(app, cfg, processor, writer, faults, telemetry)
    app.batch_topics = frozenset(cfg.consumed_topics)
    if cfg.role != "customers":
        for name, topic in (("tickets", cfg.topic_tickets), ("chats", cfg.topic_chats)):
            app.agent(app.topic(topic, schema=PassThrough()), name=name)(
                _consumer(cfg, handle))
        _normalizers(app, cfg, telemetry)
    if cfg.topic_customers in cfg.consumed_topics:  # its own writer over the same store
        cwriter = CustomerWriter(client, Keys(cfg.key_prefix), cfg.kpi, clock)
        cprocessor = BatchProcessor(cwriter, dlq, cfg.schema, clock, telemetry,
                                    validate=validate_contacts)
        app.agent(app.topic(cfg.topic_customers, schema=PassThrough()), name="customers")(
            _consumer(cfg, _handler(app, cfg, cprocessor, cwriter, faults, telemetry)))

    if cfg.topic_agents and cfg.topic_agents in cfg.consumed_topics:
        awriter = AgentWriter(client, Keys(cfg.key_prefix), cfg.kpi, clock)
        aprocessor = BatchProcessor(awriter, dlq, cfg.schema, clock, telemetry,
                                    validate=validate_agents)
        app.agent(app.topic(cfg.topic_agents, schema=PassThrough()), name="agents")(
            _consumer(cfg, _handler(app, cfg, aprocessor, awriter, faults, telemetry)))

    offsets = OffsetsLookup(cfg)
    app.after_seek = WatermarkSeeker(cfg, writer, offsets, clock, telemetry.store)

    def assigned() -> set[tuple[str, int]]:
        return {(tp.topic, tp.partition) for tp in app.consumer.assignment()
                if tp.topic in cfg.consumed_topics}

    supervisor = Supervisor(writer, offsets, cfg.liveness_timeout, assigned, telemetry.store,
                            EvictionGuard(client, Keys(cfg.key_prefix), writer))
    app.timer(supervisor.interval_s, name="check_store_and_progress")(supervisor.check)

    marks = MarkWriter(writer.applied_offsets, topic_sender(app, cfg.topic_marks),
                       cfg.key_prefix)
    app.timer(MARK_INTERVAL_S, name="mark_applied_offsets")(marks.tick)

    async def report_bookkeeping() -> None:
        consumer = app.consumer
        if isinstance(consumer, BatchConsumer):
            telemetry.commit_backlog.set(consumer.bookkeeping())

    app.timer(COMMIT_REPORT_S, name="report_commit_bookkeeping")(report_bookkeeping)
    return app


def _sender(app: faust.App, topic: str
            ) -> Callable[[int, bytes], Awaitable[Awaitable[object]]]:
    """Sends one message to a partition with the app's producer itself, not through a
    Faust topic (whose send builds a message, a pending message and sensor calls per
    record); awaiting the result waits for the ack."""
    async def send(partition: int, value: bytes) -> Awaitable[object]:
        return await app.producer.send(topic, None, value, partition, None, None)

    return send


def _handler(app: faust.App, cfg: StreamConfig, processor: BatchProcessor,
             writer: WindowWriter, faults: Faults, telemetry: WorkerTelemetry
             ) -> Callable[[Sequence[EventT]], Awaitable[None]]:
    """An agent's take → its partitions' batches applied (see ``handle``)."""
    async def apply_in_order(topic: str, partition: int,
                             batches: Sequence[Sequence[RawMessage]]) -> None:
        for msgs in batches:
            await faults.before_write(topic, partition, msgs)
            try:
                await processor.process(topic, partition, msgs)
            except StoreReset as exc:
                rebuild(exc)
            except StoreRewound as exc:
                await rewind(writer, exc)
            faults.after_write(topic, partition, msgs)
            _report_lag(app, telemetry, topic, partition, msgs[-1].offset)

    async def handle(events: Sequence[EventT]) -> None:
        """A partition's batches in offset order; different partitions at once, so that
        one's Redis round trips overlap another's computing (their keys are in different
        slots, and the writer's caches are per conversation or per partition). Nothing is
        acked before all of them are applied."""
        by_tp: dict[tuple[str, int], list[list[RawMessage]]] = defaultdict(list)
        for tp, msgs in _by_partition(events, cfg.batch_max):
            by_tp[tp].append(msgs)
        if len(by_tp) == 1:
            for (topic, partition), batches in by_tp.items():
                await apply_in_order(topic, partition, batches)
            return
        async with asyncio.TaskGroup() as tasks:
            for (topic, partition), batches in by_tp.items():
                tasks.create_task(apply_in_order(topic, partition, batches))

    return handle


def _normalizers(app: faust.App, cfg: StreamConfig, telemetry: WorkerTelemetry) -> None:
    """One agent per configured helpdesk: its raw topic → the input topics."""
    from connectors.base import NO_CONTEXT
    from connectors.registry import VENDORS
    from streams.normalize import normalizer

    dlq = FaustDeadLetterSink(raw_topic(app, cfg.topic_dlq))
    inputs = {t: raw_topic(app, t) for t in (*cfg.input_topics, cfg.topic_agents) if t}

    async def produce(topic: str, key: bytes, value: bytes) -> None:
        fut = await inputs[topic].send(key=key, value=value)
        await fut

    for vendor, topic in cfg.connectors:
        app.agent(raw_topic(app, topic), name=f"normalize_{vendor}")(normalizer(
            VENDORS[vendor], cfg.contexts.get(vendor, NO_CONTEXT), produce, dlq.send,
            cfg.topic_tickets, cfg.topic_chats, telemetry, cfg.topic_agents))


def _consumer(cfg: StreamConfig, handle: Callable[[Sequence[EventT]], Awaitable[None]]
              ) -> Callable[[Any], Awaitable[None]]:
    """An agent body (one per topic): coalesced fetched batches, handled in arrival order."""
    async def consume(stream: Any) -> None:
        async for events in take_batches(stream, cfg.memory.take_lists,
                                         cfg.memory.take_records, cfg.batch_within):
            await handle(events)

    return consume


def _report_lag(app: faust.App, telemetry: WorkerTelemetry, topic: str, partition: int,
                last: int) -> None:
    try:
        highwater = app.consumer.highwater(TP(topic, partition))
        if highwater is not None:
            lag = max(0, highwater - last - 1)
            telemetry.consumer_lag.labels(topic=topic, partition=str(partition)).set(lag)
    except Exception:  # lag is informative only; never let it stop the agent
        log.debug("no highwater for %s:%d", topic, partition)


# The cyclic collector's young-generation threshold: a batch of 1,000 events allocates
# hundreds of thousands of short-lived containers, and the default (700) ran a collection
# every few events' worth (13% of the apply path's time in bench.profile_apply).
GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Collect less often, and never again look at what start-up built (the modules, the
    app, the settings): ``gc.freeze`` moves it out of every later collection."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
