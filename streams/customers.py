"""The customer path's Kafka side: the main path's contacts onto the customers topic
(keyed by the customer hash, so one customer's conversations meet in one partition,
whichever input partitions they came from), and that topic's messages back into contacts.

The main path writes a batch's contacts and waits for the broker's acknowledgement before
its own script runs (like its dead letters): a crash in between can write a contact twice,
which the customer path's merge absorbs (:func:`kpi.customers.merge`), never lose one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import orjson

from kpi.customers import Contact
from streams.errors import CustomerTopicUnavailable, InvalidEvent
from streams.schema import CUSTOMER_HASH_HEX, RawMessage, SchemaConfig
from windows.customers import ContactRecord

# sends (key, value) to the customers topic and returns once the broker has it
Send = Callable[[bytes, bytes], Awaitable[Awaitable[object]]]


class ContactSink:
    """Writes a batch's contacts and waits for every acknowledgement at once."""

    def __init__(self, send: Send) -> None:
        self._send = send

    async def __call__(self, facts: Sequence[tuple[bytes, bytes]]) -> None:
        try:
            pending = [await self._send(key, value) for key, value in facts]
            for fut in pending:
                await fut
        except Exception as exc:
            raise CustomerTopicUnavailable(f"{type(exc).__name__}: {exc}") from exc


def decode_contact(raw: bytes) -> tuple[str, Contact]:
    """A customers-topic message → (customer hash, contact); raises InvalidEvent."""
    try:
        customer, row = orjson.loads(raw)
        if not isinstance(customer, str) or len(customer) != CUSTOMER_HASH_HEX:
            raise ValueError("not a customer hash")
        return customer, Contact.from_row(row)
    except (ValueError, TypeError) as exc:
        raise InvalidEvent("bad_contact", f"not a contact: {exc}") from None


def validate_contacts(messages: Sequence[RawMessage], cfg: SchemaConfig,
                      now_ms: Callable[[], int],
                      forced: Mapping[int, InvalidEvent] | None = None
                      ) -> tuple[list[ContactRecord], list[tuple[RawMessage, InvalidEvent]]]:
    """The customers topic's :func:`streams.schema.validate_batch`."""
    records: list[ContactRecord] = []
    rejects: list[tuple[RawMessage, InvalidEvent]] = []
    for m in messages:
        err = forced.get(m.offset) if forced else None
        if err is None:
            try:
                customer, contact = decode_contact(m.value)
                records.append(ContactRecord(m.offset, customer, contact))
                continue
            except InvalidEvent as exc:
                err = exc
        records.append(ContactRecord(m.offset, reason=err.reason))
        rejects.append((m, err))
    return records, rejects
