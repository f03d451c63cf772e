"""Schema v1.3's agent events (streams.agent_schema): what is accepted, and the reason each
refusal is dead-lettered with (docs/schema.md, "v1.3: agents")."""

from __future__ import annotations

import json

import pytest

from kpi.agents import AgentEvent
from streams.agent_schema import validate_agent, validate_agents
from streams.errors import InvalidEvent
from streams.schema import RawMessage, SchemaConfig, validate

CFG = SchemaConfig()
NOW = 1_765_000_000_000


def now() -> int:
    return NOW


def raw(**doc: object) -> bytes:
    base: dict[str, object] = {"event_id": "e1", "type": "agent.status_changed",
                               "agent_id": "361", "occurred_at": "2025-12-06T05:00:00Z",
                               "status": "available"}
    return json.dumps({**base, **doc}).encode()


def test_a_status_change_with_queues_team_and_capacity() -> None:
    e = validate_agent(raw(queues=["billing", "vip", "billing", "all"], team="tier1",
                           capacity=3.0), CFG, now)
    assert e == AgentEvent("e1", "agent.status_changed", 1_764_997_200_000, "361",
                           "available", ("billing", "vip", "_all"), "tier1", 3)


def test_contact_events() -> None:
    e = validate_agent(raw(type="agent.contact_started", conversation_id="88213",
                           channel="email", queue="billing", status=None), CFG, now)
    assert (e.conversation_id, e.channel, e.queue, e.status) == ("88213", "email",
                                                                 "billing", None)
    e = validate_agent(raw(type="agent.wrapup_ended", conversation_id="88213"), CFG, now)
    assert e.type == "agent.wrapup_ended" and e.status is None and e.queue is None


@pytest.mark.parametrize(("doc", "reason"), [
    ({"agent_id": None}, "missing_field"),
    ({"status": None}, "missing_field"),
    ({"status": "lunch"}, "bad_status"),
    ({"capacity": 0}, "bad_capacity"),
    ({"capacity": 101}, "bad_capacity"),
    ({"capacity": "2"}, "bad_capacity"),
    ({"capacity": True}, "bad_capacity"),
    ({"queues": "billing"}, "wrong_type"),
    ({"queues": ["a", 1]}, "wrong_type"),
    ({"queues": [f"q{i}" for i in range(51)]}, "field_too_long"),
    ({"type": "agent.contact_started"}, "missing_field"),  # no conversation_id
    ({"type": "ticket.created", "conversation_id": "1"}, "wrong_topic"),
    ({"type": "agent.lunch"}, "unknown_type"),
    ({"occurred_at": "yesterday"}, "bad_timestamp"),
    ({"occurred_at": "2099-01-01T00:00:00Z"}, "future_timestamp"),
    ({"agent_id": 361}, "wrong_type"),
])
def test_refusals_name_their_reason(doc: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        validate_agent(raw(**doc), CFG, now)
    assert err.value.reason == reason


def test_an_agent_event_on_a_conversation_topic_is_on_the_wrong_topic() -> None:
    with pytest.raises(InvalidEvent) as err:
        validate(raw(conversation_id="1"), CFG, now)
    assert err.value.reason == "wrong_topic"


def test_a_batch_keeps_good_neighbours_and_rejects_each_bad_one() -> None:
    msgs = [RawMessage(0, b"361", raw()), RawMessage(1, b"361", b"{not json"),
            RawMessage(2, b"362", raw(event_id="e2", agent_id="362", status="away"))]
    records, rejects = validate_agents(msgs, CFG, now)
    assert [r.reason for r in records] == [None, "not_json", None]
    assert [r.event.status for r in records if r.event] == ["available", "away"]
    assert [(m.offset, e.reason) for m, e in rejects] == [(1, "not_json")]
