"""Zendesk's documented event webhooks (tests/fixtures/connectors/zendesk, each naming its
source) map to the schema v1 events worked out here, and those give the KPIs of the
definitions: first response 480 s (the bot's greeting is not one), response times 420 and
600 s, resolution 2 h, and the hour pending on the customer paused by status v1.1."""

from __future__ import annotations

import base64
import hmac
from typing import Any

import pytest

from connectors import signatures, zendesk
from connectors.base import Context, Doc
from tests.unit.connectors import common

CTX = Context()


def normalize(doc: Doc, ctx: Context = CTX) -> list[Doc]:
    return zendesk.normalize(doc, ctx)


def payloads() -> list[dict[str, object]]:
    return common.payloads("zendesk")


def test_the_documented_ticket_maps_to_these_events() -> None:
    assert all("developer.zendesk.com" in src for src in common.sources("zendesk"))
    out = [e for p in payloads() for e in normalize(p)]  # type: ignore[arg-type]
    assert [(e["type"], e.get("actor") or e.get("status")) for e in out] == [
        ("ticket.created", None), ("ticket.message", "bot"), ("ticket.message", "customer"),
        ("ticket.message", "agent"),  # the private note is not conversation
        ("ticket.status_changed", "pending"), ("ticket.message", "customer"),
        ("ticket.message", "agent"), ("ticket.solved", None)]
    assert out[0] == {"event_id": "zendesk:141:created",
                      "type": "ticket.created", "conversation_id": "zendesk:141",
                      "occurred_at": "2025-02-11T14:32:00Z", "channel": "chat",
                      "queue": "group-360001", "priority": "normal",
                      "customer_id": "9873843"}
    assert out[1]["occurred_at"] == "2025-02-11T14:32:05.254571Z"


def test_the_customer_is_the_tickets_requester_where_the_payload_names_it() -> None:
    """Every ``ticket.*`` event webhook carries the ticket in ``detail``, its
    ``requester_id`` too ("9873843" in the fixtures); a messaging event's ``detail`` is
    the ticket's id only, so its message names no customer (the ticket's creation does)."""
    docs: list[Any] = payloads()
    assert {d["detail"].get("requester_id") for d in docs
            if str(d["type"]).startswith("zen:event-type:ticket.")} == {"9873843"}
    for doc in docs:
        mapped = normalize(doc)
        want = "9873843" if str(doc["type"]).startswith("zen:event-type:ticket.") else None
        assert [e.get("customer_id") for e in mapped] == [want] * len(mapped), doc["id"]


def test_a_trigger_body_gives_the_requester_placeholder_as_the_customer() -> None:
    """The documented trigger body's ``"requester_id": "{{ticket.requester.id}}"``; a body
    without it, or with the placeholder unrendered (a template), names no customer."""
    body = {"kpi_event": "ticket_created", "ticket_id": "141",
            "created_at": "2025-02-11T14:32:00Z", "requester_id": "9873843"}
    assert [e["customer_id"] for e in normalize({"support_kpi": body})] == ["9873843"]
    for requester in ("{{ticket.requester.id}}", ""):
        assert "customer_id" not in normalize(
            {"support_kpi": {**body, "requester_id": requester}})[0]


def test_the_kpis_are_the_hand_computed_ones() -> None:
    row = common.kpi_row(normalize, payloads())  # type: ignore[arg-type]
    assert (row["frt_count"], row["frt_mean_seconds"]) == (1, 480)
    assert (row["response_count"], row["response_mean_seconds"]) == (2, 510)
    assert row["resolution_mean_seconds"] == 7200


def test_the_signature_is_zendesks() -> None:
    body, ts = b'{"type": "zen:event-type:ticket.created"}', "2025-02-11T14:32:01Z"
    sig = base64.b64encode(hmac.digest(b"s3cret", ts.encode() + body, "sha256")).decode()
    verify = signatures.zendesk("s3cret")
    headers = {"x-zendesk-webhook-signature": sig,
               "x-zendesk-webhook-signature-timestamp": ts}
    now = 1739284321.0  # 2025-02-11T14:32:01Z
    assert verify(headers, body, now)
    assert not verify(headers, body + b" ", now)  # tampered
    assert not verify(headers, body, now + 3600)  # replayed an hour later
    assert not signatures.zendesk("other")(headers, body, now)


@pytest.mark.parametrize(("doc", "reason"), [
    ({"type": "ticket_exploded"}, "unknown_payload"),
    ({"type": "zen:event-type:ticket.comment_added", "id": "x"}, "missing_field"),
    ({"type": "zen:event-type:ticket.created", "id": "x", "subject": "zen:ticket:1",
      "time": "never"}, "bad_timestamp"),
])
def test_a_payload_it_cannot_map_says_why(doc: dict[str, object], reason: str) -> None:
    assert common.reason(normalize, doc) == reason  # type: ignore[arg-type]


def test_a_reopen_and_events_a_kpi_does_not_need() -> None:
    base = {"id": "e1", "subject": "zen:ticket:7", "time": "2025-02-11T14:32:00Z",
            "type": "zen:event-type:ticket.status_changed"}
    assert [e["type"] for e in normalize(
        {**base, "event": {"current": "OPEN", "previous": "SOLVED"}})] == ["ticket.reopened"]
    assert normalize({**base, "event": {"current": "OPEN", "previous": "NEW"}}) == []
    assert normalize({**base, "type": "zen:event-type:ticket.tags_changed"}) == []
    assert normalize({"type": "zen:event-type:user.active_changed", "id": "u",
                      "subject": "zen:user:6596848315901"}) == []


def test_a_trigger_reply_with_its_comment_id_is_the_events_comment() -> None:
    """A trigger body that sends the latest comment's id gives the reply the id the event
    webhooks and the export give it (so an import over it counts once); without one, the
    reply's id is its ticket, kind and second."""
    body = {"kpi_event": "agent_reply", "ticket_id": "5", "updated_at": "2026-01-01T00:00:07Z"}
    with_id = zendesk.normalize({"support_kpi": {**body, "comment_id": "77"}}, Context())
    without = zendesk.normalize({"support_kpi": {**body, "comment_id": ""}}, Context())
    assert [e["event_id"] for e in with_id + without] == [
        "zendesk:5:comment:77", "zendesk:5:agent_reply:2026-01-01T00:00:07Z"]
    assert {e["actor"] for e in with_id + without} == {"agent"}
