"""One identity per thing whatever the path (issue 33): the webhooks of a ticket and the
export of the same ticket give the same conversation ids, event ids and queue names, so
history imported over live webhooks counts each event once. The exports here are the
API records of the documented webhook fixtures' tickets, written from the vendors' API
shapes (the real records of tests/fixtures/connectors/real show the same fields)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from connectors import freshdesk, freshdesk_export, zendesk, zendesk_export
from connectors.base import Context
from tests.unit.connectors import common

Doc = dict[str, Any]


def ids(events: list[Doc]) -> dict[str, tuple[str, str]]:
    return {e["event_id"]: (e["conversation_id"], e.get("queue", "")) for e in events}


def test_freshdesk_rules_and_the_api_records_of_the_ticket_are_the_same_events() -> None:
    """Ticket 1001 of the rule fixtures (created 09:00 in Billing, replies 09:20 and
    10:30, the customer 10:00, pending 09:40, resolved 11:00) as the API keeps it: the
    ticket with its stats, its conversations, and the groups that name group 5."""
    hooks = [e for p in common.payloads("freshdesk")
             for e in freshdesk.normalize(p, Context())]
    ticket = {"id": 1001, "created_at": "2026-03-02T09:00:00Z", "status": 4, "source": 1,
              "priority": 2, "group_id": 5, "requester_id": 9,
              "stats": {"resolved_at": "2026-03-02T11:00:00Z"}}
    conversations = [{"id": 100 + i, "ticket_id": 1001, "incoming": incoming,
                      "private": False, "body_text": "…", "user_id": 9 if incoming else 3,
                      "created_at": f"2026-03-02T{at}Z"}
                     for i, (at, incoming) in enumerate([("09:20:00", False),
                                                         ("10:00:00", True),
                                                         ("10:30:00", False)])]
    groups = [{"id": 5, "name": "Billing", "description": "", "agent_ids": [3]}]
    out = freshdesk_export.normalize_export([[ticket], conversations, groups], Context())
    pending = "freshdesk:1001:status:pending:2026-03-02T09:40:00Z"  # not kept by the API
    assert ids(out.events) == {k: v for k, v in ids(hooks).items() if k != pending}
    created = next(e for e in out.events if e["type"] == "ticket.created")
    assert created["queue"] == "Billing"


def test_a_configured_queue_name_is_the_same_on_both_paths() -> None:
    """SUPPORT_QUEUES names group 5 for the import; the webhook's rule names it too."""
    ctx = Context(queues={"group:5": "Billing"})
    out = freshdesk_export.normalize_export(
        [{"id": 1, "created_at": "2026-03-02T09:00:00Z", "status": 2, "group_id": 5}], ctx)
    assert out.events[0]["queue"] == "Billing"
    assert "group-5" not in str(out.skipped)


def test_zendesk_webhooks_and_the_ticket_events_export_are_the_same_events() -> None:
    """The documented ticket (created, an agent comment, a private note, statuses) and
    the ticket events export of the same ticket: comment ids and status seconds match."""
    hooks = [e for p in common.payloads("zendesk") for e in zendesk.normalize(p, Context())]
    page = {"ticket_events": mirror(common.payloads("zendesk")), "end_of_stream": True}
    out = zendesk_export.normalize_export([page], Context())
    ticket_events = {k: v for k, v in ids(hooks).items() if ":message:" not in k}
    assert len(ticket_events) == 6
    assert ids(out.events) == ticket_events


def mirror(hooks: list[Doc]) -> list[Doc]:
    """The ticket events export of what the webhooks delivered (Zendesk's export holds the
    same history: comment ids, statuses, seconds); messaging messages are not in it."""
    def epoch(text: str) -> int:
        return int(dt.datetime.fromisoformat(text[:19] + "+00:00").timestamp())

    out = []
    for i, h in enumerate(hooks):
        name, t, ev = h["type"].removeprefix("zen:event-type:"), epoch(h["time"]), \
            h.get("event") or {}
        if name == "ticket.created":
            d = h["detail"]
            child = {"id": 1, "event_type": "Create", "requester_id": d.get("requester_id"),
                     "group_id": d.get("group_id"), "priority": d.get("priority"),
                     "via": d.get("via")}
            t = epoch(d["created_at"])
        elif name == "ticket.comment_added":
            c = ev["comment"]
            author = c["author"]
            child = {"id": c["id"], "event_type": "Comment", "public": c.get("is_public", True),
                     "author_id": author["id"] if author.get("is_staff")
                     else h["detail"]["requester_id"]}
        elif name == "ticket.status_changed":
            child = {"id": i, "event_type": "Change", "status": ev["current"].lower(),
                     "previous_value": ev["previous"].lower()}
        else:
            continue
        out.append({"id": 100 + i, "ticket_id": int(h["detail"]["id"]), "timestamp": t,
                    "updater_id": 1, "child_events": [child]})
    return out
