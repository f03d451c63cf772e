"""The normalizer agents: a vendor's raw topic (written by the webhook intake) → schema v1
events on the input topics, keyed by conversation; a payload the vendor mapping cannot
read goes to the DLQ with its reason.

At least once: an event is acknowledged (its offset committed through Faust) after every
event it maps to was acknowledged by the broker, so a crash re-maps it, and the worker
counts the re-sent events once (their ids derive from the vendor's own ids).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from connectors.base import Context, Vendor, load
from connectors.errors import ConnectorError
from streams.telemetry import WorkerTelemetry

log = logging.getLogger(__name__)

# topic, key, value → written and acknowledged
Produce = Callable[[str, bytes, bytes], Awaitable[None]]
# key, value, headers → on the DLQ and acknowledged
DeadLetter = Callable[[bytes | None, bytes, list[tuple[str, bytes]]], Awaitable[None]]


def route(doc: dict[str, Any], tickets: str, chats: str, default: str, agents: str = ""
          ) -> tuple[str, bytes]:
    """The topic and key of a mapped event: a ticket's events to the tickets topic, a
    chat's to the chats topic, a survey to the vendor's usual one, each keyed by its
    conversation (the input topics are co-partitioned, so a conversation's events meet in
    one partition's state either way); an agent's events (schema v1.3) to the agents
    topic, keyed by the agent."""
    typ = str(doc.get("type", ""))
    if typ.startswith("agent."):
        return agents, str(doc["agent_id"]).encode()
    topic = tickets if typ.startswith("ticket.") else chats if typ.startswith("chat.") \
        else default
    return topic, str(doc["conversation_id"]).encode()


def normalizer(vendor: Vendor, ctx: Context, produce: Produce, dead_letter: DeadLetter,
               tickets: str, chats: str, telemetry: WorkerTelemetry, agents: str = ""
               ) -> Callable[[Any], Awaitable[None]]:
    """The agent of one vendor's raw topic. A payload's record time is when the intake
    received it (its producer stamps it then): the time of an event whose body has none."""
    default = chats if vendor.topic == "chats" else tickets
    payloads = telemetry.connector_payloads

    async def agent(stream: Any) -> None:
        async for event in stream.events():
            m = event.message
            value = m.value if isinstance(m.value, bytes) else bytes(m.value or b"")
            try:
                docs = vendor.normalize(load(value), replace(ctx, received_at=m.timestamp))
            except ConnectorError as err:
                await dead_letter(m.key, value, [
                    ("dlq.reason", err.reason.encode()),
                    ("dlq.detail", err.detail.encode("utf-8", "replace")[:1000]),
                    ("dlq.topic", m.topic.encode()), ("dlq.partition", str(m.partition).encode()),
                    ("dlq.offset", str(m.offset).encode())])
                telemetry.dlq_sent.labels(reason=err.reason).inc()
                payloads.labels(vendor=vendor.name, outcome="dead_lettered").inc()
                log.info("dead-lettered a %s payload at %s:%d@%d: %s", vendor.name, m.topic,
                         m.partition, m.offset, err.reason)
                continue
            for doc in docs:
                topic, key = route(doc, tickets, chats, default, agents)
                if topic:  # agent events with the agents path off are dropped
                    await produce(topic, key, json.dumps(doc).encode())
            payloads.labels(vendor=vendor.name, outcome="mapped" if docs else "skipped").inc()

    return agent
