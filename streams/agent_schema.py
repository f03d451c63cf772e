"""Schema v1.3's agent events (docs/schema.md "v1.3: agents"): raw Kafka bytes of the
agents topic → :class:`kpi.agents.AgentEvent`, or a precise reason (each a DLQ reason).

Agent events are a few per contact, so they are checked field by field (the conversation
topics' msgspec fast path is not worth it here).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from kpi.agents import (
    AGENT_TYPES,
    CONTACT_STARTED,
    CONTACT_TYPES,
    MAX_CAPACITY,
    MAX_QUEUES,
    PRESENCES,
    STATUS_CHANGED,
    AgentEvent,
)
from kpi.events import EVENT_TYPES
from streams.errors import InvalidEvent
from streams.messages import validate_each
from streams.schema import (
    MAX_ID_LEN,
    BeforeEpoch,
    RawMessage,
    SchemaConfig,
    _dim,
    _req_str,
    parse_occurred_at,
)
from windows.agents import AgentRecord


def _time(doc: Mapping[str, Any], cfg: SchemaConfig, now_ms: Callable[[], int]) -> int:
    if doc.get("occurred_at") is None:
        raise InvalidEvent("missing_field", "missing required field 'occurred_at'")
    try:
        t_ms = parse_occurred_at(doc["occurred_at"])
    except BeforeEpoch as exc:
        raise InvalidEvent("before_1970", f"occurred_at: {exc}") from None
    except (ValueError, OverflowError) as exc:
        raise InvalidEvent("bad_timestamp", f"occurred_at: {exc}") from None
    if t_ms > now_ms() + cfg.max_future_skew_ms:
        raise InvalidEvent("future_timestamp", f"occurred_at is more than "
                           f"{cfg.max_future_skew_ms // 1000}s in the future")
    return t_ms


def _queues(doc: Mapping[str, Any]) -> tuple[str, ...] | None:
    v = doc.get("queues")
    if v is None:
        return None
    if not isinstance(v, list) or not all(isinstance(q, str) for q in v):
        raise InvalidEvent("wrong_type", "field 'queues' must be a list of strings")
    if len(v) > MAX_QUEUES:
        raise InvalidEvent("field_too_long", f"field 'queues' lists more than {MAX_QUEUES}")
    out = [_dim({"queue": q}, "queue") for q in v]
    return tuple(dict.fromkeys(q for q in out if q is not None))


def _capacity(doc: Mapping[str, Any]) -> int | None:
    v = doc.get("capacity")
    if v is None:
        return None
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_CAPACITY:
        raise InvalidEvent("bad_capacity", f"capacity must be an integer 1..{MAX_CAPACITY}, "
                           f"got {v!r}")
    return v


def validate_agent(raw: bytes, cfg: SchemaConfig, now_ms: Callable[[], int]) -> AgentEvent:
    """Validate one agents-topic message; raises :class:`InvalidEvent` with a reason."""
    if len(raw) > cfg.max_message_bytes:
        raise InvalidEvent("oversized", f"message of {len(raw)} bytes exceeds "
                           f"{cfg.max_message_bytes}")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("not_json", f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidEvent("not_object", f"expected a JSON object, got {type(doc).__name__}")
    event_id = _req_str(doc, "event_id", MAX_ID_LEN)
    typ = _req_str(doc, "type", 64)
    if typ not in AGENT_TYPES:
        if typ in EVENT_TYPES:
            raise InvalidEvent("wrong_topic", f"{typ} is a conversation event: it belongs "
                               "on the tickets or chats topic")
        raise InvalidEvent("unknown_type", f"unknown agent event type {typ!r}")
    agent_id = _req_str(doc, "agent_id", MAX_ID_LEN)
    t_ms = _time(doc, cfg, now_ms)
    if typ == STATUS_CHANGED:
        status = doc.get("status")
        if status is None or status == "":
            raise InvalidEvent("missing_field", f"{typ} requires 'status'")
        if status not in PRESENCES:
            raise InvalidEvent("bad_status", f"status must be one of {', '.join(PRESENCES)}, "
                               f"got {status!r}")
        return AgentEvent(event_id, typ, t_ms, agent_id, status=status, queues=_queues(doc),
                          team=_dim(doc, "team"), capacity=_capacity(doc))
    assert typ in CONTACT_TYPES
    cid = _req_str(doc, "conversation_id", MAX_ID_LEN)
    if typ != CONTACT_STARTED:
        return AgentEvent(event_id, typ, t_ms, agent_id, conversation_id=cid)
    return AgentEvent(event_id, typ, t_ms, agent_id, conversation_id=cid,
                      channel=_dim(doc, "channel"), queue=_dim(doc, "queue"))


def validate_agents(messages: Sequence[RawMessage], cfg: SchemaConfig,
                    now_ms: Callable[[], int],
                    forced: Mapping[int, InvalidEvent] | None = None
                    ) -> tuple[list[AgentRecord], list[tuple[RawMessage, InvalidEvent]]]:
    """The agents topic's :func:`streams.schema.validate_batch` (the time read once)."""
    now = now_ms()

    def at_batch_start() -> int:
        return now

    def records_of(m: RawMessage) -> list[AgentRecord]:
        return [AgentRecord(m.offset, validate_agent(m.value, cfg, at_batch_start))]

    return validate_each(messages, forced, records_of,
                         lambda offset, reason: AgentRecord(offset, reason=reason))
