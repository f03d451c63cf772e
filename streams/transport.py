"""Batch delivery inside Faust: a transport registered as ``kafka-batch://``.

Faust hands an agent one event per Kafka record, and each costs ~35–80 µs of Faust's own
machinery (the conductor, the stream, a task per message, the ack) before our code runs:
more than the whole KPI work should. This transport yields, for the topics the app names
in ``batch_topics``, **one event per fetched (partition, record list)**: its value is a
tuple of :class:`streams.processor.RawMessage`, its offset the list's last offset.
Everything else of Faust stays as it is, which is why it is a transport and not a consumer
of our own:

* rebalances, seeks (``perform_seek``, our watermark seek), flow control and the stream
  buffer see ordinary messages;
* the commit: Faust's drain loop marks the offsets below a batch's last one as a *gap*
  (it does so for any jump in offsets), and a gap is only folded into the committed
  offset once a message above it is acked. Acking the batch event therefore commits the
  whole list, and nothing of it before the agent acked it. The Redis watermark stays the
  truth of what was applied (streams.seek), as it was with per-record delivery.

It also sets the consumer's fetch wait to :data:`FETCH_MAX_WAIT_MS` instead of Faust's fixed
1.5 s (and :data:`FETCH_MIN_BYTES`, so that a live stream's fetches are worth a script
call): aiokafka sends one fetch per broker and leaves out partitions with buffered records,
so a fetch of only idle partitions made the broker hold the data partitions' next fetch
for the whole wait (issue 18).

Faust registers it from this project's ``faust.transports`` entry point
(pyproject.toml), the registry Faust reads its transports from. It subclasses Faust's
aiokafka driver, whose internals it relies on; :func:`check_supported` refuses any
faust-streaming or aiokafka version it was not tested with, at start-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from importlib import metadata
from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from faust.types.tuples import ConsumerMessage

from streams.errors import StreamError
from streams.schema import RawMessage

SCHEME = "kafka-batch"
# the versions this transport was tested with (its internals are theirs)
TESTED_VERSIONS = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}
# short enough that an idle partition cannot hold a data partition's fetch for long, long
# enough that an idle consumer does not spin (20 ms cost a fifth of catch-up throughput)
FETCH_MAX_WAIT_MS = 50
# The broker answers a fetch once this much is there, or after the wait above. With
# aiokafka's default (1 byte) a live stream came back a few records per fetch: batches of a
# handful of records per script call, whose fixed cost fell behind 2,000 events/s. Waiting
# for ~1,000 events (or 100 ms) gives the scripts what the take used to coalesce; a backlog
# is always above it, so catch-up does not wait.
FETCH_MIN_BYTES = 256 * 1024


def check_supported() -> None:
    """Raise :class:`StreamError` unless the installed Faust and aiokafka are the tested ones
    and the transport is registered (the package installed, so its entry point exists)."""
    for dist, want in TESTED_VERSIONS.items():
        have = metadata.version(dist)
        if have != want:
            raise StreamError(
                f"{dist} {have} is installed; the worker's batch transport is tested with "
                f"{dist}=={want} only: run `make setup` (it installs the pinned versions)",
                reason="unsupported_version")
    names = {ep.name for ep in metadata.entry_points(group="faust.transports")}
    if SCHEME not in names:
        raise StreamError(
            f"the Faust transport {SCHEME!r} is not registered: install the project "
            "(`make setup`, or `pip install -e .`) so its faust.transports entry point exists",
            reason="transport_missing")


def batch_topics(app: Any) -> frozenset[str]:
    """The topics whose records the app wants as batches (``app.batch_topics``)."""
    return frozenset(getattr(app, "batch_topics", ()))


def _batch_message(tp: TP, records: list[Any], generation_id: int) -> ConsumerMessage:
    last = records[-1]
    items = tuple(RawMessage(r.offset, r.key, r.value if r.value is not None else b"")
                  for r in records)
    size = sum(r.serialized_value_size for r in records)
    ts = last.timestamp / 1000.0 if last.timestamp is not None else None
    # a message's value is typed as bytes; here it is the batch (streams.app reads it so)
    return ConsumerMessage(tp.topic, tp.partition, last.offset, ts,  # type: ignore[arg-type]
                           last.timestamp_type, [], None, items,  # type: ignore[arg-type]
                           None, 0, size, tp, generation_id=generation_id)


class BatchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # read by AIOKafkaConsumer.start() when it builds its fetcher (aiokafka 0.14.0)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        consumer._fetch_min_bytes = FETCH_MIN_BYTES
        return consumer


class BatchConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> BatchConsumerThread:
        return BatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        """Faust's ``getmany`` (same flow, generation and active-partition checks), with
        one message per partition's record list for the batch topics; other topics get
        Faust's per-record round robin."""
        records, active = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:  # Faust's answer to a fetch while the flow is stopped
            try:
                await self.perform_seek()
            except Exception as exc:  # as Faust: a rebalance may have taken the partition
                self.log.warning(f"exception performing seek when flow not active {exc}")
            return
        batched = batch_topics(self.app)
        rest = {tp: recs for tp, recs in records.items() if tp.topic not in batched}
        for tp, recs in records.items():
            if tp.topic not in batched or not recs:
                continue
            if not self._still_delivering(generation_id):
                return
            if self._is_active(tp, active):
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                yield tp, _batch_message(tp, recs, generation_id)
        for tp, record in self._round_robin(rest):
            if not self._still_delivering(generation_id):
                return
            if self._is_active(tp, active):
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                yield tp, self._to_message(tp, record)

    def _round_robin(self, records: dict[TP, list[Any]]) -> Iterable[tuple[TP, Any]]:
        return self.scheduler.iterate(records) if records else ()

    def _still_delivering(self, generation_id: int) -> bool:
        return self.flow_active and self.app.consumer_generation_id == generation_id

    def _is_active(self, tp: TP, active: set[TP] | None) -> bool:
        return active is None or tp in active or tp in self._buffered_partitions


class BatchTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with :class:`BatchConsumer` (``kafka-batch://host:port``)."""

    Consumer = BatchConsumer
