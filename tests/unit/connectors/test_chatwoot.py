"""Chatwoot's documented webhook payloads (tests/fixtures/connectors/chatwoot, each naming
its source) map to the schema v1 events worked out here, and those give the KPIs of the
definitions: first response 125 s from the queue entry, resolution 600 s, CSAT 5 of 5."""

from __future__ import annotations

from typing import Any

import pytest

from connectors import chatwoot
from connectors.base import Context, Doc
from tests.unit.connectors import common

CTX = Context()


def normalize(doc: Doc, ctx: Context = CTX) -> list[Doc]:
    return chatwoot.normalize(doc, ctx)


def payloads() -> list[dict[str, object]]:
    return common.payloads("chatwoot")


def test_every_fixture_names_its_source() -> None:
    assert all("http" in src for src in common.sources("chatwoot"))


def test_the_documented_conversation_maps_to_these_events() -> None:
    out = [e for p in payloads() for e in normalize(p)]  # type: ignore[arg-type]
    assert [(e["type"], e.get("actor"), e["occurred_at"]) for e in out] == [
        ("chat.started", None, "2020-03-04T01:37:38Z"),
        ("chat.handoff", None, "2020-03-04T01:37:38Z"),  # opened without a bot: queued
        ("chat.message", "customer", "2020-03-04T01:37:43Z"),
        ("chat.message", "agent", "2020-03-04T01:39:43Z"),  # the private note is dropped
        ("chat.ended", None, "2020-03-04T01:47:38Z"),
        ("survey.csat", None, "2020-03-04T01:48:10Z"),
    ]
    assert {e["conversation_id"] for e in out} == {"chatwoot:1"}
    assert out[0] | {} == {**out[0], "channel": "chat", "queue": "inbox-1", "team": "billing",
                           "priority": "high"}
    assert out[3]["agent_id"] == "7" and out[5]["score"] == 5
    assert len({e["event_id"] for e in out}) == len(out)
    # a retried delivery maps to the same ids: the worker counts it once
    assert [e["event_id"] for p in payloads() for e in normalize(p)] == \
        [e["event_id"] for e in out]  # type: ignore[arg-type]


def test_the_customer_is_the_conversations_contact() -> None:
    """Conversation payloads name the contact as ``meta.sender`` (id 1, an integer, and
    ``contact_inbox.contact_id``); the incoming message its sender of type contact ("1");
    the agent's reply and the CSAT message carry a conversation with its display id only
    and a teammate as sender, so they name no customer."""
    docs: list[Any] = payloads()
    assert docs[0]["meta"]["sender"]["id"] == 1
    assert docs[1]["sender"] == {"id": "1", "name": "contact-name", "type": "contact"}
    out = [e for p in docs for e in normalize(p)]
    assert [(e["type"], e.get("customer_id")) for e in out] == [
        ("chat.started", "1"), ("chat.handoff", "1"), ("chat.message", "1"),
        ("chat.message", None), ("chat.ended", "1"), ("survey.csat", None)]


def test_the_kpis_are_the_hand_computed_ones() -> None:
    row = common.kpi_row(normalize, payloads())  # type: ignore[arg-type]
    assert row["frt_count"] == 1 and row["frt_mean_seconds"] == 125
    assert row["resolution_mean_seconds"] == 600
    assert row["csat_ratio"] == 1.0


@pytest.mark.parametrize(("doc", "reason"), [
    ({"event": "ticket_exploded"}, "unknown_payload"),
    ({"event": "message_created", "id": 9, "conversation": {"display_id": 1}},
     "missing_field"),
    ({"event": "conversation_created", "id": 1, "created_at": "yesterday"}, "bad_timestamp"),
])
def test_a_payload_it_cannot_map_says_why(doc: dict[str, object], reason: str) -> None:
    assert common.reason(normalize, doc) == reason  # type: ignore[arg-type]


def test_events_a_kpi_does_not_need_are_skipped() -> None:
    assert normalize({"event": "contact_updated", "id": 3}) == []
    assert normalize({"event": "conversation_status_changed", "id": 1, "display_id": 1,
                      "status": "snoozed", "channel": "Channel::WebWidget",
                      "timestamp": 1583285858}) == []


def test_an_email_inbox_is_a_ticket_with_its_statuses() -> None:
    base = {"id": 5, "display_id": 5, "account_id": 1, "channel": "Channel::Email",
            "timestamp": 1583285858}
    assert [e["type"] for e in normalize({**base, "event": "conversation_created"})] == \
        ["ticket.created"]
    pending = normalize({**base, "event": "conversation_status_changed", "status": "pending"})
    assert [(e["type"], e.get("status")) for e in pending] == \
        [("ticket.status_changed", "pending")]
    reopened = normalize({**base, "event": "conversation_status_changed", "status": "open",
                          "changed_attributes": [{"status": {"previous_value": "resolved",
                                                             "current_value": "open"}}]})
    assert [e["type"] for e in reopened] == ["ticket.reopened"]
