"""The customer path's Kafka side: the main path's contacts onto the customers topic
(partitioned by the customer hash, so one customer's conversations meet in one partition,
whichever input partitions they came from), and that topic's messages back into contacts.

A batch's contacts for one partition travel as one message (a JSON list of
``[customer hash, contact]``): a message per contact cost the main path a producer record
each and the customers agent a fetched record each, most of what the path cost in
bench.customers.

The main path writes a batch's contacts and waits for the broker's acknowledgement before
its own script runs (like its dead letters): a crash in between can write a contact twice,
which the customer path's merge absorbs (:func:`kpi.customers.merge`), never lose one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import orjson

from kpi.customers import Contact
from streams.errors import CustomerTopicUnavailable, InvalidEvent
from streams.messages import validate_each
from streams.schema import CUSTOMER_HASH_HEX, RawMessage, SchemaConfig
from windows.customers import ContactRecord

# sends a value to a partition of the customers topic; awaiting the result waits for the ack
Send = Callable[[int, bytes], Awaitable[Awaitable[object]]]


def partition_of(customer: str, partitions: int) -> int:
    """The customers-topic partition of a customer hash (its first 32 bits: the hash is
    already uniform, and every worker computes the same)."""
    return int(customer[:8], 16) % partitions


class ContactSink:
    """Writes a batch's contacts, one message per partition, and waits for every
    acknowledgement at once."""

    def __init__(self, send: Send, partitions: int) -> None:
        self._send = send
        self._partitions = partitions

    async def __call__(self, facts: Sequence[tuple[str, bytes]]) -> None:
        """``facts``: (customer hash, contact message) of one main-path batch."""
        by_partition: dict[int, list[bytes]] = {}
        for customer, value in facts:
            by_partition.setdefault(partition_of(customer, self._partitions), []).append(value)
        try:
            pending = [await self._send(p, b"[" + b",".join(values) + b"]")
                       for p, values in sorted(by_partition.items())]
            for fut in pending:
                await fut
        except Exception as exc:
            raise CustomerTopicUnavailable(f"{type(exc).__name__}: {exc}") from exc


def decode_contacts(raw: bytes) -> list[tuple[str, Contact]]:
    """A customers-topic message → its (customer hash, contact)s; raises InvalidEvent."""
    try:
        doc = orjson.loads(raw)
        if not isinstance(doc, list):
            raise ValueError("not a list of contacts")
        out = []
        for customer, row in doc:
            if not isinstance(customer, str) or len(customer) != CUSTOMER_HASH_HEX:
                raise ValueError("not a customer hash")
            out.append((customer, Contact.from_row(row)))
        return out
    except (ValueError, TypeError) as exc:
        raise InvalidEvent("bad_contact", f"not a list of contacts: {exc}") from None


def validate_contacts(messages: Sequence[RawMessage], cfg: SchemaConfig,
                      now_ms: Callable[[], int],
                      forced: Mapping[int, InvalidEvent] | None = None
                      ) -> tuple[list[ContactRecord], list[tuple[RawMessage, InvalidEvent]]]:
    """The customers topic's :func:`streams.schema.validate_batch` (a message holds one
    partition's contacts of one main-path batch: its records share its offset)."""
    def records_of(m: RawMessage) -> list[ContactRecord]:
        return [ContactRecord(m.offset, customer, contact)
                for customer, contact in decode_contacts(m.value)]

    return validate_each(messages, forced, records_of,
                         lambda offset, reason: ContactRecord(offset, reason=reason))
