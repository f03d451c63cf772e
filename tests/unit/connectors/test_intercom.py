"""Intercom's documented conversation notifications (tests/fixtures/connectors/intercom,
each naming its source) map to the schema v1 events worked out here, and those give the
KPIs of the definitions: first response 90 s, responses 90 and 250 s, resolution 600 s,
CSAT 4 of 5 (satisfied)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from connectors import intercom, signatures
from connectors.base import Context, Doc
from tests.unit.connectors import common

CTX = Context()


def normalize(doc: Doc, ctx: Context = CTX) -> list[Doc]:
    return intercom.normalize(doc, ctx)


def payloads() -> list[dict[str, object]]:
    return common.payloads("intercom")


def test_the_documented_conversation_maps_to_these_events() -> None:
    both = [e for p in payloads() for e in normalize(p)]  # type: ignore[arg-type]
    out = common.conversation_events(both)
    assert [(e["type"], e.get("actor"), e["occurred_at"][11:19]) for e in out] == [
        ("chat.started", None, "22:13:20"), ("chat.handoff", None, "22:13:20"),
        ("chat.message", "customer", "22:13:20"), ("chat.message", "agent", "22:14:50"),
        ("chat.message", "customer", "22:15:50"),  # the note is not conversation
        ("chat.message", "agent", "22:20:00"), ("chat.ended", None, "22:23:20"),
        ("survey.csat", None, "22:25:00")]
    assert out[0]["queue"] == "team-5017691" and out[0]["priority"] == "normal"
    assert out[3]["agent_id"] == "814860" and out[-1]["score"] == 4
    # the close ends the contact of the admin who closed it (the documented conversation
    # names no assignee), and its wrap-up with it: Intercom has none
    assert common.agent_events(both) == [
        {"event_id": "intercom:215469:part:9000005:agent:814860:ended",
         "type": "agent.contact_ended", "agent_id": "814860",
         "conversation_id": "intercom:215469", "occurred_at": "2023-11-14T22:23:20Z"},
        {"event_id": "intercom:215469:part:9000005:agent:814860:wrapup",
         "type": "agent.wrapup_ended", "agent_id": "814860",
         "conversation_id": "intercom:215469", "occurred_at": "2023-11-14T22:23:20Z"}]


def test_the_customer_is_the_conversations_contact() -> None:
    """The current model lists the contact (``contacts.contacts[0].id``); every event of
    the conversation carries it, an admin's reply too (the payload names the contact)."""
    docs: list[Any] = payloads()
    assert docs[0]["data"]["item"]["contacts"]["contacts"][0]["id"] == \
        "5310d8e7598c9a0b24000002"
    out = [e for p in docs for e in normalize(p)]
    conversation = common.conversation_events(out)
    assert [e.get("customer_id") for e in conversation] == \
        ["5310d8e7598c9a0b24000002"] * len(conversation)
    assert all("customer_id" not in e for e in common.agent_events(out))  # the agent's


@pytest.mark.parametrize(("item", "want"), [
    # the older model (real/intercom/01): the customer as ``user``, a lead
    ({"user": {"type": "lead", "id": "5c9553cb27e377f24eed49f7"},
      "conversation_message": {"author": {"type": "user", "id": "5c9553cb27e377f24eed49f7"}}},
     "5c9553cb27e377f24eed49f7"),
    # no contact list: the opening message's author, when a contact wrote it
    ({"source": {"author": {"type": "lead", "id": "696205460674dbb9050aa7fd"}}},
     "696205460674dbb9050aa7fd"),
    # an outbound conversation's opening author is the teammate: no customer from it
    ({"source": {"author": {"type": "admin", "id": "4423433"}}}, None),
    ({"contacts": {"type": "contact.list", "contacts": []}}, None),
])
def test_the_contact_of_either_model(item: dict[str, object], want: str | None) -> None:
    assert intercom.customer_of(item) == want


def test_the_kpis_are_the_hand_computed_ones() -> None:
    row = common.kpi_row(normalize, payloads())  # type: ignore[arg-type]
    assert (row["frt_count"], row["frt_mean_seconds"]) == (1, 90)
    assert (row["response_count"], row["response_mean_seconds"]) == (2, 170)
    assert row["resolution_mean_seconds"] == 600 and row["csat_ratio"] == 1.0


def test_the_signature_is_intercoms() -> None:
    body = json.dumps(payloads()[0]).encode()
    sig = "sha1=" + hmac.new(b"client-secret", body, hashlib.sha1).hexdigest()
    assert signatures.intercom("client-secret")({"x-hub-signature": sig}, body, 0)
    assert not signatures.intercom("client-secret")({"x-hub-signature": sig}, body + b"x", 0)


@pytest.mark.parametrize(("doc", "reason"), [
    ({"type": "ping"}, "unknown_payload"),
    ({"type": "notification_event", "topic": "conversation.admin.replied"}, "missing_field"),
])
def test_a_payload_it_cannot_map_says_why(doc: dict[str, object], reason: str) -> None:
    assert common.reason(normalize, doc) == reason  # type: ignore[arg-type]
