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
* the commit, but not Faust's bookkeeping of it. Faust commits the longest run of
  consecutive offsets acked one by one from its committed offset, with the offsets it did
  not deliver (a jump) filled in as *gaps*; batch events fit that badly
  (faust/transport/consumer.py of faust-streaming 0.15.3: ``_drain_messages`` adds a gap
  only ``if gap > 1 and r_offset:``, so after reading offset 0 the next batch leaves a hole;
  our seek to the Redis watermark skips offsets it never delivers; and ``_new_offset``
  returns ``None`` for good once ``min(acked) - committed > 1``, while every commit still
  moves each gap into the ``_acked`` list one offset at a time and re-sorts it). The group's
  commits then stopped after a rebalance or at offset 1, and the list grew without bound.
  Here, for the batch topics, the delivered batch events are kept in order per partition
  with whether each was acked (:class:`_Deliveries`); a commit takes the acked prefix and
  commits its last offset + 1, so nothing of a batch is committed before the agent acked it,
  everything acked is committed within one commit interval, and what is kept is what is in
  flight (cleared at every seek and revocation). The Redis watermark stays the truth of what
  was applied (streams.seek, which also commits it after seeking there).

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

from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from importlib import metadata
from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from faust.types.tuples import ConsumerMessage, ack_lock
from mode.utils.futures import notify

from streams.errors import StreamError
from streams.schema import BACKFILL_HEADER, RawMessage

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


def _is_backfill(headers: Any) -> bool:
    return bool(headers) and any(k == BACKFILL_HEADER for k, _ in headers)


def _batch_message(tp: TP, records: list[Any], generation_id: int) -> ConsumerMessage:
    last = records[-1]
    items = tuple(RawMessage(r.offset, r.key, r.value if r.value is not None else b"",
                             _is_backfill(r.headers))
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


class _Deliveries:
    """The batch events delivered on one partition since its last seek, oldest first, and
    which of them the agent acked: what may be committed is the acked prefix."""

    __slots__ = ("acked", "messages")

    def __init__(self) -> None:
        self.messages: deque[Message] = deque()
        self.acked: set[int] = set()  # id() of the acked messages still in `messages`

    def ack(self, message: Message) -> bool:
        if any(m is message for m in self.messages):
            self.acked.add(id(message))
            return True
        return False  # delivered before a seek: it is read (and applied) again

    def committable(self) -> int | None:
        """The offset to commit (the acked prefix's last + 1), dropping that prefix."""
        last = None
        while self.messages and id(self.messages[0]) in self.acked:
            m = self.messages.popleft()
            self.acked.discard(id(m))
            last = m.offset
        return None if last is None else last + 1


class BatchConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deliveries: dict[TP, _Deliveries] = {}
        deliver = self.callback  # the drain loop reads it when it starts

        async def on_message(message: Message) -> None:
            """Every message the drain loop hands on (not the ones it drops), in order."""
            if message.topic in batch_topics(self.app):
                self._deliveries.setdefault(message.tp, _Deliveries()).messages.append(message)
            await deliver(message)

        self.callback = on_message

    def _new_consumer_thread(self) -> BatchConsumerThread:
        return BatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def ack(self, message: Message) -> bool:
        """A batch event acked by its agent; Faust's own ``ack`` for the other topics. An
        event the stream skipped (the flow stopped for a rebalance, an older generation) is
        acked without being applied, so it never counts toward a commit."""
        if message.topic not in batch_topics(self.app):
            return bool(super().ack(message))
        with ack_lock:
            if message.acked:
                return False
            message.acked = True
            self._unacked_messages.discard(message)
            try:
                if not self.app.flow_control.is_active() \
                        or message.generation_id != self.app.consumer_generation_id:
                    return False
                found = self._deliveries.get(message.tp)
                if found is None or not found.ack(message):
                    return False
                self._acked[message.tp]  # lists the partition for commit()
                self._n_acked += 1
                return True
            finally:
                notify(self._waiting_for_ack)

    def _new_offset(self, tp: TP) -> int | None:
        if tp.topic not in batch_topics(self.app):
            return super()._new_offset(tp)
        found = self._deliveries.get(tp)
        return None if found is None else found.committable()

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        if tp.topic not in batch_topics(self.app):  # batch topics: nothing to fill in
            await super()._add_gap(tp, offset_from, offset_to)

    def bookkeeping(self) -> int:
        """Entries of the commit bookkeeping: batch events delivered and not yet committed
        (bounded by the stream buffer and the take), and what Faust keeps for the other
        topics (acked offsets, gap intervals)."""
        return (sum(len(d.messages) for d in self._deliveries.values())
                + sum(len(v) for v in self._acked.values())
                + sum(len(g) for g in self._gap.values()))

    def _forget(self, tps: Iterable[Any]) -> None:
        for tp in tps:
            self._deliveries.pop(TP(tp.topic, tp.partition), None)

    async def perform_seek(self) -> None:
        self._deliveries.clear()
        await super().perform_seek()

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        self._forget(partitions)
        await super().seek_wait(partitions)

    async def seek(self, partition: TP, offset: int) -> None:
        self._forget([partition])
        await super().seek(partition, offset)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._forget(revoked)
        await super().on_partitions_revoked(revoked)

    async def commit_applied(self, offsets: Mapping[TP, int]) -> None:
        """Commit offsets the store already holds (the watermark + 1 after a seek there),
        where the group's commit is behind them: lag tools then show what is applied even
        when no new record arrives on the partition."""
        behind = {}
        for tp, offset in offsets.items():
            committed = self._committed_offset[tp]
            if committed is None or offset > committed:
                behind[tp] = offset
        if behind and await self._commit(behind):
            self._committed_offset.update(behind)

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
