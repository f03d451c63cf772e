"""The history imports of Freshdesk, Chatwoot and Intercom (tests/fixtures/connectors/
<vendor>_export, each naming its source) map to the events worked out here, whatever order
the files and records come in, and give the KPIs of the definitions."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from connectors import chatwoot_export, freshdesk_export, intercom, intercom_export
from connectors.base import Context
from connectors.registry import IMPORTS
from tests.support import ROOT
from tests.unit.connectors import common


def export(vendor: str) -> list[Any]:
    folder = ROOT / "tests/fixtures/connectors" / f"{vendor}_export"
    return [json.loads(p.read_text())["payload"] for p in sorted(folder.glob("*.json"))]


def story(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted((e["occurred_at"][11:19], e["type"],
                   str(e.get("actor") or e.get("status") or e.get("score") or ""))
                  for e in events)


def kpis(events: list[dict[str, Any]]) -> dict[str, float | None]:
    return common.kpi_row(lambda d: d["e"], [{"e": [e]} for e in events])  # type: ignore


def test_freshdesk_tickets_conversations_and_ratings() -> None:
    """Ticket 20 (email, 08:00): answered 08:30, a private note, the customer back 09:15,
    answered 09:45, resolved 10:00, rated 103 (the top answer, 5). Ticket 21 (chat,
    09:00): answered 09:10, pending since 09:50."""
    out = freshdesk_export.normalize_export(export("freshdesk"), Context())
    assert story(out.events) == sorted([
        ("08:00:00", "ticket.created", ""), ("08:00:00", "ticket.message", "customer"),
        ("08:30:00", "ticket.message", "agent"), ("09:15:00", "ticket.message", "customer"),
        ("09:45:00", "ticket.message", "agent"), ("10:00:00", "ticket.solved", ""),
        ("10:30:00", "survey.csat", "5"),
        ("09:00:00", "ticket.created", ""), ("09:00:00", "ticket.message", "customer"),
        ("09:10:00", "ticket.message", "agent"),
        ("09:50:00", "ticket.status_changed", "pending")])
    created = {e["conversation_id"]: e for e in out.events if e["type"] == "ticket.created"}
    assert (created["freshdesk:20"]["channel"], created["freshdesk:20"]["priority"],
            created["freshdesk:20"]["queue"]) == ("email", "normal", "group-7000001")
    assert (created["freshdesk:21"]["channel"], created["freshdesk:21"]["priority"]) == \
        ("chat", "high")
    assert out.skipped == {"private_note": 1, freshdesk_export.UNNAMED: 2}
    # the ticket records' requester_id (1520, 1521) on what each record gives; the
    # conversation and rating records name no requester
    assert {(e["conversation_id"], e["type"], e.get("actor", "-"), e.get("customer_id"))
            for e in out.events if "customer_id" in e} == {
        ("freshdesk:20", "ticket.created", "-", "1520"),
        ("freshdesk:20", "ticket.message", "customer", "1520"),
        ("freshdesk:20", "ticket.solved", "-", "1520"),
        ("freshdesk:21", "ticket.created", "-", "1521"),
        ("freshdesk:21", "ticket.message", "customer", "1521"),
        ("freshdesk:21", "ticket.status_changed", "-", "1521")}
    assert out.refused == {}
    row = kpis(out.events)
    assert (row["frt_count"], row["frt_mean_seconds"]) == (2, 1200)  # 1800 and 600
    assert (row["response_count"], row["response_mean_seconds"]) == (3, 1400)
    assert (row["resolution_count"], row["resolution_mean_seconds"]) == (1, 7200)
    assert row["csat_ratio"] == 1.0


def test_chatwoot_conversations_with_their_messages() -> None:
    """Chat 41 (10:00): answered 10:01:30 and, after the customer's 10:03, at 10:05;
    resolved 10:10 by an activity message; rated 5. Email 40 (09:00): answered 09:40,
    resolved 10:00, the customer back 10:30, reopened 10:31, answered 10:45, resolved
    11:00."""
    out = chatwoot_export.normalize_export(export("chatwoot"), Context(account="3"))
    assert story(out.events) == sorted([
        ("10:00:00", "chat.started", ""), ("10:00:00", "chat.handoff", ""),
        ("10:00:00", "chat.message", "customer"), ("10:01:30", "chat.message", "agent"),
        ("10:03:00", "chat.message", "customer"), ("10:05:00", "chat.message", "agent"),
        ("10:10:00", "chat.ended", ""), ("10:12:00", "survey.csat", "5"),
        ("09:00:00", "ticket.created", ""), ("09:00:00", "ticket.message", "customer"),
        ("09:40:00", "ticket.message", "agent"), ("10:00:00", "ticket.solved", ""),
        ("10:30:00", "ticket.message", "customer"), ("10:31:00", "ticket.reopened", ""),
        ("10:45:00", "ticket.message", "agent"), ("11:00:00", "ticket.solved", "")])
    assert out.skipped == {"private_note": 1, "activity (not a status)": 1}
    # both conversations' contact is meta.sender, Emily Garcia (contact 31)
    assert {e.get("customer_id") for e in out.events} == {"31"}
    row = kpis(out.events)
    assert (row["frt_count"], row["frt_mean_seconds"]) == (2, (90 + 2400) / 2)
    assert (row["response_count"], row["response_mean_seconds"]) == \
        (4, (90 + 120 + 2400 + 900) / 4)
    # resolved at the first solve (600 and 3600 s); the reopen counts as a reopen
    assert (row["resolution_count"], row["resolution_mean_seconds"]) == (2, 2100)
    assert (row["reopened_completed"], row["csat_ratio"]) == (1, 1.0)


def test_chatwoot_import_keeps_the_webhooks_message_ids() -> None:
    out = chatwoot_export.normalize_export(export("chatwoot"), Context(account="3"))
    assert "chatwoot:3:41:message:4101" in {e["event_id"] for e in out.events}


def test_intercom_conversations_are_the_webhooks_events() -> None:
    """The first conversation is the one the webhook fixtures deliver: its import is
    exactly their events, ids included, so overlapping history counts once."""
    out = intercom_export.normalize_export(export("intercom"), Context())
    hooks = common.conversation_events(  # agent events are the webhooks' only
        [e for p in common.payloads("intercom") for e in intercom.normalize(p, Context())])
    first = [e for e in out.events if e["conversation_id"] == "intercom:215469"]
    assert sorted(first, key=lambda e: e["event_id"]) == \
        sorted({e["event_id"]: e for e in hooks}.values(), key=lambda e: e["event_id"])
    # every event of both conversations carries their contact, contacts.contacts[0].id
    assert {e.get("customer_id") for e in out.events} == {"5310d8e7598c9a0b24000002"}
    row = kpis(out.events)
    assert (row["frt_count"], row["frt_mean_seconds"]) == (2, (90 + 300) / 2)
    assert (row["resolution_count"], row["resolution_mean_seconds"]) == (1, 600)


@pytest.mark.parametrize("vendor", ["chatwoot", "freshdesk", "intercom", "zendesk"])
def test_any_order_of_files_and_records_maps_the_same(vendor: str) -> None:
    docs = export(vendor)
    records = [r for d in docs for r in (
        d if isinstance(d, list) else d.get("ticket_events") or (d.get("data") or {}).get(
            "payload") or d.get("conversations") or [d])]
    assert len(records) >= 2
    ctx = Context(account={"chatwoot": "3"}.get(vendor, ""))
    want = sorted(json.dumps(e, sort_keys=True) for e in IMPORTS[vendor](docs, ctx).events)
    rng = random.Random(7)
    for _ in range(5):
        rng.shuffle(records)
        got = IMPORTS[vendor]([list(records)], ctx).events
        assert sorted(json.dumps(e, sort_keys=True) for e in got) == want


@pytest.mark.parametrize(("vendor", "doc", "reason"), [
    ("freshdesk", {"name": "a contact"}, "unknown_payload"),
    ("freshdesk", {"id": 1, "incoming": True, "created_at": "x"}, "missing_field"),
    ("freshdesk", {"id": 1, "ticket_id": 2, "incoming": True, "created_at": "x"},
     "bad_timestamp"),
    ("chatwoot", {"status": "open"}, "missing_field"),
    ("intercom", {"type": "contact", "id": "1"}, "unknown_payload"),
])
def test_a_record_it_cannot_map_is_refused_with_a_reason(vendor: str, doc: dict[str, Any],
                                                         reason: str) -> None:
    out = IMPORTS[vendor]([doc], Context())
    assert (out.events, out.refused) == ([], {reason: 1})


def test_every_export_fixture_names_its_source() -> None:
    for vendor in ("chatwoot", "freshdesk", "intercom"):
        folder = ROOT / "tests/fixtures/connectors" / f"{vendor}_export"
        assert all(json.loads(p.read_text())["source"].startswith("https://")
                   for p in folder.glob("*.json"))
