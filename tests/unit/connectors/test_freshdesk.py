"""Freshdesk's automation webhooks (tests/fixtures/connectors/freshdesk, each naming its
source) map to the schema v1 events worked out here, and those give the KPIs of the
definitions: created 09:00 by email, answered 09:20 (first response 1200 s), pending at
09:40, the customer back at 10:00 and answered 10:30 (responses 1200 and 1800 s, mean
1500 s), resolved at 11:00 (resolution 7200 s; two agent replies, so not first contact)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors import freshdesk, signatures
from connectors.base import Context, Doc
from connectors.freshdesk import TOKEN_HEADER
from tests.unit.connectors import common

CTX = Context()


def normalize(doc: Doc, ctx: Context = CTX) -> list[Doc]:
    return freshdesk.normalize(doc, ctx)


def payloads() -> list[dict[str, object]]:
    return common.payloads("freshdesk")


def test_the_rules_bodies_map_to_these_events() -> None:
    out = [e for p in payloads() for e in normalize(p)]  # type: ignore[arg-type]
    assert [(e["type"], e.get("actor") or e.get("status"), e["occurred_at"][11:19])
            for e in out] == [
        ("ticket.created", None, "09:00:00"), ("ticket.message", "customer", "09:00:00"),
        ("ticket.message", "agent", "09:20:00"), ("ticket.status_changed", "pending", "09:40:00"),
        ("ticket.message", "customer", "10:00:00"), ("ticket.message", "agent", "10:30:00"),
        ("ticket.solved", None, "11:00:00")]
    assert (out[0]["channel"], out[0]["priority"], out[0]["queue"]) == \
        ("email", "normal", "Billing")
    assert {e["conversation_id"] for e in out} == {"freshdesk:1001"}
    assert len({e["event_id"] for e in out}) == len(out)


def test_the_customer_is_the_requester_id_the_rule_sends() -> None:
    """These rules' bodies name the requester by name and email only: no id, so no
    customer (an email is no id, and none is made up). With the documented body's
    ``"requester_id": "{{ticket.requester.id}}"`` (rendered, as every Freshdesk
    placeholder, as a string; 9 is ticket 1001's requester in the API records of
    test_identity) every event of the body carries it."""
    docs: list[Any] = payloads()
    assert not any("customer_id" in e for p in docs for e in normalize(p))
    body = docs[0]["freshdesk_webhook"]
    out = normalize({"freshdesk_webhook": {**body, "requester_id": "9"}})
    assert [(e["type"], e["customer_id"]) for e in out] == [("ticket.created", "9"),
                                                           ("ticket.message", "9")]
    unrendered = {**body, "requester_id": "{{ticket.requester.id}}"}
    assert not any("customer_id" in e for e in normalize({"freshdesk_webhook": unrendered}))


def test_a_retried_delivery_is_the_same_event() -> None:
    body = payloads()[2]
    assert normalize(body) == normalize(dict(body))  # type: ignore[arg-type]


def test_the_kpis_are_the_hand_computed_ones() -> None:
    row = common.kpi_row(normalize, payloads())  # type: ignore[arg-type]
    assert (row["frt_count"], row["frt_mean_seconds"]) == (1, 1200)
    assert (row["response_count"], row["response_mean_seconds"]) == (2, 1500)
    assert (row["resolution_count"], row["resolution_mean_seconds"]) == (1, 7200)
    assert (row["fcr_eligible"], row["fcr_resolved"]) == (1, 0)


def test_the_token_is_the_rules_custom_header() -> None:
    verify = signatures.shared_secret(TOKEN_HEADER)("s3cret")
    assert verify({TOKEN_HEADER: "s3cret"}, b"{}", 0)
    assert not verify({TOKEN_HEADER: "s3cre"}, b"{}", 0) and not verify({}, b"{}", 0)


@pytest.mark.parametrize(("doc", "reason"), [
    ({"ticket": {"id": 1}}, "unknown_payload"),
    ({"freshdesk_webhook": {"ticket_id": 1}}, "needs_setting"),  # no triggered_event
    ({"freshdesk_webhook": {"ticket_id": 1, "kpi_event": "tagged"}}, "unknown_payload"),
    ({"freshdesk_webhook": {"ticket_id": 1, "kpi_event": "agent_reply"}}, "missing_field"),
    ({"freshdesk_webhook": {"ticket_id": 1, "kpi_event": "agent_reply",
                            "ticket_updated_at": "yesterday"}}, "bad_timestamp"),
    ({"freshdesk_webhook": {"ticket_id": 1, "kpi_event": "status_changed",
                            "ticket_updated_at": "2026-03-02T09:00:00Z",
                            "ticket_status": "Snoozing"}}, "unknown_payload"),
])
def test_a_body_it_cannot_map_says_why(doc: dict[str, object], reason: str) -> None:
    assert common.reason(normalize, doc) == reason  # type: ignore[arg-type]


def test_every_fixture_names_its_source() -> None:
    assert all("support.freshdesk.com" in s for s in common.sources("freshdesk"))
