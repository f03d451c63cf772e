"""Faust's ``Stream.take_events`` with a limit on the records a take holds, not only on the
fetched lists it joins.

Each event of a batch topic is one partition's share of one fetch (:mod:`streams.transport`):
thousands of records in a backlog, a handful at a live floor's rate. ``take_events(n, within)``
counts the lists, so at 500 events/s a take of 2 lists held ~10 records and the worker made a
Redis read and a script call for every few events (465 CPU-s per million events against
37.5 in a drain: issue 37). Here a take ends when its lists hold ``max_records`` (the memory
plan's bound: what ``max_lists`` full fetches would hold), ``max_lists`` lists, or after
``within`` seconds, whichever comes first: a backlog is taken as before, a live stream in
``within``'s worth of records.

The body is faust-streaming 0.15.3's ``take_events`` (faust/streams.py), whose internals it
uses (the passive channel, the processor hook, manual acks after the body): the transport's
version check (``streams.transport.check_supported``) covers it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from faust.types import EventT
from mode.utils.futures import notify


def _records(value: Any) -> int:
    return len(value) if isinstance(value, (tuple, list)) else 1


def take_batches(stream: Any, max_lists: int, max_records: int, within: float
                 ) -> AsyncIterator[Sequence[EventT]]:
    """Lists of events of ``stream``, each acked after the body that got it has run. The
    generator is registered on the stream as Faust registers its own takes, so that the
    stream's stop closes it."""
    agen = _take(stream, max_lists, max_records, within)
    stream._active_agens.add(agen)
    return agen


async def _take(stream: Any, max_lists: int, max_records: int, within: float
                ) -> AsyncIterator[Sequence[EventT]]:
    events: list[EventT] = []
    held = 0  # records in ``events``
    full = asyncio.Event()
    consumed = asyncio.Event()
    consuming: asyncio.Future[None] | None = None
    enable_acks: bool = stream.enable_acks

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming, held
        try:
            if consuming is not None:  # the body is reading the buffer: wait for it
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("take buffer found current_event is None")
            events.append(event)
            held += _records(value)
            if len(events) >= max_lists or held >= max_records:
                full.set()
                consumed.clear()
                await stream.wait(consumed)  # never more than the limits at once
        except asyncio.CancelledError:  # pragma: no cover
            raise
        except Exception as exc:
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    stream.enable_acks = False  # acked here, after the body
    stream.add_processor(add_to_buffer)
    stream._enable_passive(stream.channel.__aiter__())
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(full, timeout=within)
            if not events:
                continue
            consuming = stream.loop.create_future()
            try:
                yield list(events)
            finally:
                taken = list(events)
                events.clear()
                held = 0
                for event in taken:
                    await stream.ack(event)
                notify(consuming)
                full.clear()
                consumed.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
