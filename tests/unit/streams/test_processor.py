"""The batch processor alone: validation, dead letters (once), the one-by-one fallback and
retries, against an in-memory writer that keeps a watermark like the real one (the real
writer against a real redis-server is tested in tests/integration/windows/)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from streams.processor import BatchProcessor, RawMessage
from streams.schema import SchemaConfig
from streams.telemetry import WorkerTelemetry
from windows.errors import StoreConflict, StoreReset, StoreUnavailable
from windows.writer import ApplyResult, Record

NOW = 1_800_000_000.0


def msg(offset: int, value: bytes | dict[str, object]) -> RawMessage:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return RawMessage(offset, b"k", raw)


def event(i: int, **kw: object) -> dict[str, object]:
    return {"event_id": f"e{i}", "type": "ticket.created", "occurred_at": NOW - 60,
            "conversation_id": f"T{i}", **kw}


class MemoryWriter:
    """Applies records above a per-partition watermark; can be told to fail."""

    def __init__(self) -> None:
        self.last: dict[tuple[str, int], int] = {}
        self.applied: list[Record] = []
        self.calls = 0
        self.failures: list[Exception] = []  # raised, one per call, before applying
        self.poison: set[str] = set()  # event ids whose batch raises ValueError

    async def apply(self, topic: str, partition: int, records: Sequence[Record]) -> ApplyResult:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        if any(r.event is not None and r.event.event_id in self.poison for r in records):
            raise ValueError("cannot encode this event")
        last = self.last.get((topic, partition), -1)
        result = ApplyResult()
        for r in records:
            if r.offset <= last:
                result.skipped_offsets += 1
            elif r.event is None:
                result.rejected += 1
            else:
                result.applied += 1
                self.applied.append(r)
        self.last[(topic, partition)] = max(last, *(r.offset for r in records))
        return result

    async def unapplied(self, topic: str, partition: int, offsets: Sequence[int]) -> list[int]:
        last = self.last.get((topic, partition), -1)
        return [o for o in offsets if o > last]


class MemoryDlq:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []
        self.fail_next = 0

    async def send(self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("broker down")
        self.sent.append((key, value, dict(headers)))


def make() -> tuple[BatchProcessor, MemoryWriter, MemoryDlq, WorkerTelemetry]:
    writer, dlq = MemoryWriter(), MemoryDlq()
    telemetry = WorkerTelemetry(CollectorRegistry())
    sleeps: list[float] = []

    async def no_sleep(s: float) -> None:
        sleeps.append(s)

    proc = BatchProcessor(writer, dlq, SchemaConfig(), lambda: NOW, telemetry, sleep=no_sleep)
    return proc, writer, dlq, telemetry


def metric(telemetry: WorkerTelemetry, name: str, **labels: str) -> float:
    for family in telemetry.store_retries.collect() + telemetry.dlq_sent.collect() \
            + telemetry.redelivered.collect():
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return 0.0


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_valid_events_are_applied_and_rejects_dead_lettered_with_their_reason() -> None:
    proc, writer, dlq, tel = make()
    batch = [msg(0, event(0)), msg(1, b"{not json"), msg(2, event(2, type="ticket.bogus")),
             msg(3, event(3))]
    result = run(proc.process("t", 0, batch))
    assert (result.applied, result.rejected) == (2, 2)
    assert [r.event.event_id for r in writer.applied if r.event] == ["e0", "e3"]
    reasons = [h["dlq.reason"] for _, _, h in dlq.sent]
    assert reasons == [b"not_json", b"unknown_type"]
    assert dlq.sent[0][1] == b"{not json"  # the original bytes
    assert dlq.sent[1][2]["dlq.offset"] == b"2" and dlq.sent[1][2]["dlq.topic"] == b"t"
    assert metric(tel, "support_dlq_messages_total", reason="not_json") == 1


def test_a_redelivered_batch_dead_letters_nothing_twice() -> None:
    proc, _writer, dlq, tel = make()
    batch = [msg(0, event(0)), msg(1, b"[]")]
    run(proc.process("t", 0, batch))
    again = run(proc.process("t", 0, batch))
    assert len(dlq.sent) == 1
    assert again.skipped_offsets == 2 and again.applied == 0
    assert metric(tel, "support_redelivered_messages_total") == 2


def test_an_unexpected_error_dead_letters_only_the_message_that_causes_it() -> None:
    proc, writer, dlq, _ = make()
    writer.poison = {"e1"}
    result = run(proc.process("t", 0, [msg(0, event(0)), msg(1, event(1)), msg(2, event(2))]))
    assert result.applied == 2
    assert [r.event.event_id for r in writer.applied if r.event] == ["e0", "e2"]
    assert [h["dlq.reason"] for _, _, h in dlq.sent] == [b"processing_error"]
    assert b"ValueError" in dlq.sent[0][2]["dlq.detail"]


@pytest.mark.parametrize("fault", [StoreUnavailable("connection refused"),
                                   StoreConflict("another writer kept moving the keys")])
def test_store_faults_are_retried_and_never_dead_letter_good_messages(fault: Exception) -> None:
    proc, writer, dlq, tel = make()
    writer.failures = [fault, fault]
    result = run(proc.process("t", 0, [msg(0, event(0)), msg(1, event(1))]))
    assert result.applied == 2 and dlq.sent == []
    assert writer.calls == 3
    reason = "redis_unavailable" if isinstance(fault, StoreUnavailable) else "conflict"
    assert metric(tel, "support_store_retries_total", reason=reason) == 2


def test_a_batch_retried_ten_times_dead_letters_its_bad_message_once() -> None:
    """Redis out of memory for ten attempts: the bad message was on the DLQ after the first
    (its write comes before the script's), and the retries do not send it again."""
    proc, writer, dlq, tel = make()
    writer.failures = [StoreUnavailable("OOM", reason="redis_out_of_memory")] * 10
    result = run(proc.process("t", 0, [msg(0, event(0)), msg(1, b"{bad"), msg(2, event(2))]))
    assert writer.calls == 11 and result.applied == 2
    assert [h["dlq.offset"] for _, _, h in dlq.sent] == [b"1"]
    assert metric(tel, "support_store_retries_total", reason="redis_out_of_memory") == 10
    # and the next batch's bad message is sent (the record of the applied one is gone)
    run(proc.process("t", 0, [msg(3, b"{bad again")]))
    assert [h["dlq.offset"] for _, _, h in dlq.sent] == [b"1", b"3"]


def test_a_failing_dlq_is_retried_like_an_outage_and_the_batch_stays_unacknowledged() -> None:
    proc, _writer, dlq, tel = make()
    dlq.fail_next = 1
    result = run(proc.process("t", 0, [msg(0, b"nope"), msg(1, event(1))]))
    assert result.applied == 1 and len(dlq.sent) == 1
    assert metric(tel, "support_store_retries_total", reason="dlq_unavailable") == 1


def test_a_lost_store_escapes_so_the_worker_rebuilds() -> None:
    proc, writer, _, _ = make()
    writer.failures = [StoreReset("the store epoch is gone")]
    with pytest.raises(StoreReset):
        run(proc.process("t", 0, [msg(0, event(0))]))
