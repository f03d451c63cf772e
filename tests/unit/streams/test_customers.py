"""The customers topic's messages: a batch's contacts, one message per partition, and back."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from kpi.customers import Contact
from streams.customers import ContactSink, partition_of, validate_contacts
from streams.errors import CustomerTopicUnavailable
from streams.schema import RawMessage, SchemaConfig

A, B = "00000001" + "0" * 24, "f" * 32  # customer hashes in partitions 1 and 3 of 4


def fact(customer: str, cid: str) -> tuple[str, bytes]:
    c = Contact(cid, 1_000, "email", 2_000, True, "*|", (2_000, 3))
    return customer, orjson.dumps([customer, c.to_row()])


def test_a_batch_sends_one_message_per_partition_and_it_reads_back() -> None:
    sent: list[tuple[int, bytes]] = []

    async def send(partition: int, value: bytes) -> asyncio.Future[None]:
        sent.append((partition, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    assert (partition_of(A, 4), partition_of(B, 4)) == (1, 3)
    asyncio.run(ContactSink(send, 4)([fact(A, "t1"), fact(B, "t2"), fact(A, "t3")]))
    assert [p for p, _ in sent] == [1, 3]
    records, rejects = validate_contacts(
        [RawMessage(7, None, sent[0][1]), RawMessage(8, None, b'[["nope", []]]')],
        SchemaConfig(), lambda: 0)
    assert [(r.offset, r.customer, r.contact.conversation_id if r.contact else None)
            for r in records] == [(7, A, "t1"), (7, A, "t3"), (8, "", None)]
    assert [(m.offset, e.reason) for m, e in rejects] == [(8, "bad_contact")]


def test_a_refusing_broker_is_retried_not_dead_lettered() -> None:
    async def send(partition: int, value: bytes) -> asyncio.Future[None]:
        raise ConnectionError("broker down")

    with pytest.raises(CustomerTopicUnavailable):
        asyncio.run(ContactSink(send, 4)([fact(A, "t1")]))
