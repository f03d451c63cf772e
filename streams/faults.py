"""Test-only fault injection (``SUPPORT_TEST_CRASH_AT``), kept out of the agents' code.

``after_write:N`` exits at once after the N-th partition batch reached Redis (before Kafka
acks it); ``before_write:N`` commits the N-th batch to Kafka and exits before writing it;
``stall:N`` hangs the N-th batch forever (a wedged consumer). Used by
``tests/integration/streams/test_faults.py`` and ``test_liveness.py``; never carried into a
restart in place (:mod:`streams.restart`). With no spec every hook is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence

from streams.schema import RawMessage

log = logging.getLogger(__name__)

# commits ``offset`` for (topic, partition) to Kafka, as the consumer would
Commit = Callable[[str, int, int], Awaitable[None]]


class Faults:
    def __init__(self, spec: str, commit: Commit) -> None:
        point, _, n = spec.partition(":")
        self._point = point
        self._n = int(n) if n else 0
        self._commit = commit
        self._batches = 0
        # the one batch the hook fires on, by its coordinates: the tickets and chats agents
        # run concurrently, so a flag the other agent's next batch could clear would let the
        # armed batch's after_write pass (the worker never exited)
        self._armed: tuple[str, int, int] | None = None

    async def before_write(self, topic: str, partition: int,
                           msgs: Sequence[RawMessage]) -> None:
        if not self._point:
            return
        self._batches += 1
        if self._batches != self._n:
            return
        self._armed = (topic, partition, msgs[-1].offset)
        if self._point == "before_write":  # Kafka says done, Redis never saw it
            await self._commit(topic, partition, msgs[-1].offset + 1)
            _exit("committed to Kafka; exiting before the Redis write", topic, partition,
                  msgs[-1].offset)
        if self._point == "stall":  # a wedged agent: alive, never progressing
            log.warning("TEST FAULT: %s:%d stalls before offset %d", topic, partition,
                        msgs[0].offset)
            await asyncio.Event().wait()

    def after_write(self, topic: str, partition: int, msgs: Sequence[RawMessage]) -> None:
        if self._point == "after_write" and self._armed == (topic, partition, msgs[-1].offset):
            _exit("is in Redis; exiting before Kafka acks it", topic, partition,
                  msgs[-1].offset)


def _exit(what: str, topic: str, partition: int, last: int) -> None:
    """Die at once, as a kill would, saying where."""
    log.warning("TEST FAULT: %s:%d up to %d %s", topic, partition, last, what)
    logging.shutdown()
    os._exit(70)
