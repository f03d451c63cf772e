"""The raw topics' producer: kafka-python, acks=all, bounded waits, run off the loop."""

from __future__ import annotations

import asyncio
from typing import Any


class KafkaRawSink:
    """A write is done when every in-sync replica has it; a broker that is down fails it
    within ``timeout_s`` instead of blocking the webhook."""

    def __init__(self, bootstrap: str, options: dict[str, Any], timeout_s: float) -> None:
        from kafka import KafkaProducer

        ms = int(timeout_s * 1000)
        self._timeout_s = timeout_s
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                                       max_block_ms=ms, request_timeout_ms=ms,
                                       delivery_timeout_ms=ms + 1000, **options)

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        def write() -> None:
            self._producer.send(topic, key=key, value=value).get(self._timeout_s)

        await asyncio.to_thread(write)

    def close(self) -> None:
        self._producer.close(timeout=5)
