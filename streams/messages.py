"""One batch of an applied topic's messages into records, each message validated on its
own: the agents' and the customers' topics (the conversation topics have their own,
compiled loop in :func:`streams.schema.validate_batch`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from streams.errors import InvalidEvent
from streams.schema import RawMessage

R = TypeVar("R")


def validate_each(messages: Sequence[RawMessage],
                  forced: Mapping[int, InvalidEvent] | None,
                  records_of: Callable[[RawMessage], list[R]],
                  rejected: Callable[[int, str], R]
                  ) -> tuple[list[R], list[tuple[RawMessage, InvalidEvent]]]:
    """The records of each message (``records_of``, which raises :class:`InvalidEvent`),
    or its rejection record (``rejected(offset, reason)``); and the rejected messages with
    why. ``forced`` rejects offsets whatever they hold (the processor's one-by-one
    fallback)."""
    records: list[R] = []
    rejects: list[tuple[RawMessage, InvalidEvent]] = []
    for m in messages:
        err = forced.get(m.offset) if forced else None
        if err is None:
            try:
                records.extend(records_of(m))
                continue
            except InvalidEvent as exc:
                err = exc
        records.append(rejected(m.offset, err.reason))
        rejects.append((m, err))
    return records, rejects
