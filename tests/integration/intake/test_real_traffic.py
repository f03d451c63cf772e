"""Real helpdesk traffic (issue 33): what Chatwoot, Zendesk, Intercom and Freshdesk really
send (tests/fixtures/connectors/real, each citing its repository, path and commit), signed
per vendor and posted to the real intake, mapped by the real worker into a real Redis, or
imported with `import`; each numbered defect of the issue has its test here.

Payloads "derived" from a real one change only what the case needs (a conversation id, a
topic, a time) and say so.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import time
from typing import Any

import pytest

from tests.integration.intake.floor import Floor, real
from tests.replay_check import cli, counters, rows_from_json
from tests.support import ROOT, wait_for
from tests.unit.connectors import common

pytestmark = pytest.mark.integration


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# 1 -----------------------------------------------------------------------------------------


def test_chatwoot_conversation_and_message_deliveries_are_one_conversation(floor: Floor) -> None:
    """Chatwoot's conversation_created has no account; its message_created has one. The
    customer message (derived from chatwoot/04, moved to conversation 49 and inbox 36) and
    the agent's reply (chatwoot/05) meet the creation (chatwoot/01) in one conversation:
    its first response is measured, in the inbox's queue, and nothing waits forever."""
    created = real("chatwoot/01_conversation_created_reconstructed")
    customer = real("chatwoot/04_message_created_incoming_webwidget")
    customer["conversation"] |= {"id": 49, "inbox_id": 36, "display_id": 49}
    customer["inbox"] = {"id": 36, "name": "Website"}
    customer["created_at"] = "2023-07-24T22:10:00.000Z"
    reply = real("chatwoot/05_message_created_outgoing_agent")
    assert "account_id" not in created and "account" not in created
    assert reply["account"]["id"] is not None  # the message payloads carry one
    for doc in (created, customer, reply):
        assert floor.post("chatwoot", doc) == 200
    floor.applied(4, "started, queued, the customer's message, the reply")
    at = _epoch(reply["created_at"]) + 60
    row = floor.row(at, "queue=inbox-36", window="24h")
    assert row.get("frt_count") == 1, row
    rows = rows_from_json(cli({**os.environ, **floor.env}, "query", "--window", "24h",
                              "--at", str(at), "--json"))
    assert not any("queue=unknown" in dims for (_at, _w), table in rows.items()
                   for dims in table), rows


# 2, 3 --------------------------------------------------------------------------------------


def _zendesk_page(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"ticket_events": events, "end_of_stream": True}


def _te(eid: int, ticket: int, t: int, *children: dict[str, Any], updater: int = 1
        ) -> dict[str, Any]:
    return {"id": eid, "ticket_id": ticket, "timestamp": t, "updater_id": updater,
            "child_events": list(children)}


def test_zendesk_satisfaction_in_the_export_is_csat(floor: Floor) -> None:
    """Satisfaction changes in the ticket events (good 3, bad 1; offered is no rating)."""
    t0 = int(time.time()) - 7200
    events = []
    for i, score in enumerate(["good", "good", "bad", "good", "offered"]):
        ticket = 500 + i
        events += [_te(10 * ticket, ticket, t0 + i,
                       {"id": 1, "event_type": "Create", "requester_id": 77, "status": "new"}),
                   _te(10 * ticket + 1, ticket, t0 + 600 + i,
                       {"id": 2, "event_type": "Change", "satisfaction_score": score,
                        "previous_value": "offered"})]
    summary = floor.import_("zendesk", _zendesk_page(events))
    assert "satisfaction offered (not a rating) 1" in summary, summary
    floor.applied(9, "five creations and four ratings")
    row = floor.row(t0 + 700)
    assert (row["csat_responses"], row["csat_ratio"]) == (4, 0.75), row


def test_zendesk_import_never_counts_a_customer_as_an_agent(floor: Floor) -> None:
    """A comment on a ticket created before the exported range: its author is unknown
    from the events alone, so it is refused and said; with the tickets export among the
    files it is the customer's (the requester), not a first response."""
    t0 = int(time.time()) - 3600
    comment = _te(9001, 700, t0 + 60, {"id": 5, "event_type": "Comment", "author_id": 42,
                                       "public": True, "created_at": None})
    summary = floor.import_("zendesk", _zendesk_page([comment]))
    assert "requester is unknown" in summary, summary
    ticket = {"tickets": [{"id": 700, "requester_id": 42, "created_at":
                           dt.datetime.fromtimestamp(t0, dt.UTC).isoformat(),
                           "group_id": 360001, "via": {"channel": "web"}}]}
    floor.import_("zendesk", _zendesk_page([comment]), ticket)
    floor.applied(2, "the ticket and the customer's comment")
    row = floor.row(t0 + 120)
    assert row.get("frt_count", 0) == 0, row  # a customer's follow-up is no response


# 4 -----------------------------------------------------------------------------------------


def test_intercom_older_model_and_a_reply_and_assign_give_the_first_response(
        floor: Floor) -> None:
    """Intercom's older payload model (conversation_message + user, no source): the chat
    opens with the customer's message (derived from intercom/02: its conversation, as the
    user.created delivery carries it); the teammate's reply-and-assign (an assignment part
    with a body) is delivered twice, as conversation.admin.replied (intercom/02) and
    conversation.admin.assigned (intercom/03), and is one first response: 178 s."""
    replied = real("intercom/02_conversation_admin_replied_assignment_part")
    opened = copy.deepcopy(replied)
    opened["topic"] = "conversation.user.created"
    opened["data"]["item"]["conversation_parts"]["conversation_parts"] = []
    for doc in (opened, replied, real("intercom/03_conversation_admin_assigned_with_body")):
        assert floor.post("intercom", doc) == 200
    floor.applied(4, "started, queued, the customer's message, the reply")
    row = floor.row(1553291111 + 60)
    assert (row["frt_count"], row["frt_mean_seconds"]) == (1, 1553291111 - 1553290933), row


# 5 -----------------------------------------------------------------------------------------


def test_freshdesk_rules_with_triggered_event_map(floor: Floor) -> None:
    """Real rule bodies: created (freshdesk/01), a public note (03: a response), a status
    from resolved to Waiting on Customer (02: a reopen); the times are when the intake got
    them. A body with neither triggered_event nor kpi_event (06) is refused saying so."""
    for name in ("01_ticket_created_triggered_event", "03_public_note_triggered_event",
                 "02_status_changed_triggered_event", "06_status_changed_missing_triggered_event"):
        assert floor.post("freshdesk", real(f"freshdesk/{name}")) == 200
        time.sleep(0.01)  # distinct receipt times, in this order
    floor.applied(5, "created, description, note, reopen, pending")
    wait_for(lambda: floor.dlq_reasons() == ["needs_setting"], 60, "the refused body")
    row = floor.row(int(time.time()) + 5)
    assert (row["volume_created"], row["frt_count"], row["volume_reopened"]) == (1, 1, 1), row


def test_freshdesk_import_counts_a_reopen(floor: Floor) -> None:
    """A ticket resolved, reopened (stats.reopened_at) and resolved again: the reopen
    counts, and the resolution runs to the reopen (the first resolve, gone from the API,
    was then at the latest), not to the last resolve."""
    t0 = int(time.time()) - 6 * 3600

    def at(h: float) -> str:
        return dt.datetime.fromtimestamp(t0 + h * 3600, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    ticket = {"id": 901, "created_at": at(0), "status": 4, "source": 1, "priority": 2,
              "requester_id": 5, "group_id": 43, "stats": {"reopened_at": at(2),
                                                           "resolved_at": at(7)}}
    floor.import_("freshdesk", [ticket])
    floor.applied(6, "created, description, first resolve, reopen, open, last resolve")
    row = floor.row(t0 + 8 * 3600)
    assert (row["volume_reopened"], row["resolution_count"],
            row["resolution_mean_seconds"]) == (1, 1, 2 * 3600), row


# 6 -----------------------------------------------------------------------------------------


def test_chatwoot_import_of_a_bot_inbox_queues_at_the_handover(floor: Floor) -> None:
    """A bot's conversation (derived from chatwoot/10: its inbox and ids) talks with the bot
    for 16 days; "Conversation was reopened by Bot" hands it over; an agent answers four
    minutes later. Its first response after the handoff is 240 s, not 385.9 h."""
    conv = real("chatwoot/10_api_list_conversations")["payload"][0]
    start = int(time.time()) - 17 * 86400
    handover = start + int(385.9 * 3600) - 240
    conv |= {"created_at": start, "status": "open", "id": 77,
             "messages": [
                 {"id": 1, "message_type": 0, "created_at": start + 10, "content": "hi",
                  "sender_type": "Contact"},
                 {"id": 2, "message_type": 1, "created_at": start + 12, "content": "Bot here",
                  "sender_type": "AgentBot", "sender": {"type": "agent_bot"}},
                 {"id": 3, "message_type": 2, "created_at": handover,
                  "content": "Conversation was reopened by Bot"},
                 {"id": 4, "message_type": 1, "created_at": handover + 240,
                  "content": "Agent here", "sender_type": "User", "sender": {"type": "user",
                                                                               "id": 1}}]}
    floor.import_("chatwoot", {"data": {"payload": [conv]}})
    floor.applied(5, "started, two messages, the handoff, the reply")
    row = floor.row(handover + 300)
    assert (row["frt_after_handoff_count"], row["frt_after_handoff_mean_seconds"]) == \
        (1, 240), row


# 7, 8 --------------------------------------------------------------------------------------


def test_history_imported_over_live_webhooks_counts_each_event_once(floor: Floor) -> None:
    """Zendesk's documented ticket arrives live; then an export of the same ticket (its
    creation, comments by their comment ids, status changes at their seconds) is imported
    over it, as the README's recipe does after the intake is live: every KPI is the live
    one, each event counted once (a one-touch ticket stays one-touch)."""
    fixtures = sorted((ROOT / "tests/fixtures/connectors/zendesk").glob("*.json"))
    hooks = [json.loads(p.read_text())["payload"] for p in fixtures]
    for doc in hooks:
        assert floor.post("zendesk", doc) == 200
    floor.applied(8, "the live ticket")
    at = _epoch("2025-02-11T17:00:00Z")
    live = floor.row(at)
    export = _zendesk_page(_mirror(hooks))
    floor.import_("zendesk", export)
    wait_for(lambda: counters(floor.port).get("support_events_duplicate_total", 0) >= 6, 60,
             "the imported copies seen as duplicates")
    assert floor.row(at) == live
    assert counters(floor.port).get("support_events_late_dropped_total", 0) == 0
    floor.agrees_with_oracle([at, _epoch("2025-02-11T14:45:00Z")])


def test_freshdesk_history_over_live_rules_counts_each_event_once(floor: Floor) -> None:
    """Ticket 1001 of the documented rule bodies arrives live (created in Billing, two
    replies and the customer between, pending, resolved); then the API's records of it
    (the ticket with its stats, its conversations, the groups) are imported: replies
    match by ticket, author and second, the queue by the group's name, and every KPI
    is the oracle's on the union, each event once."""
    for doc in common.payloads("freshdesk"):
        assert floor.post("freshdesk", doc) == 200
    floor.applied(7, "the live ticket")
    at = _epoch("2026-03-02T11:00:01Z")
    live = floor.row(at, "queue=Billing")
    assert live["frt_count"] == 1 and live["resolution_count"] == 1, live
    ticket = {"id": 1001, "created_at": "2026-03-02T09:00:00Z", "status": 4, "source": 1,
              "priority": 2, "group_id": 5, "requester_id": 9,
              "stats": {"resolved_at": "2026-03-02T11:00:00Z"}}
    replies = [{"id": 100 + i, "ticket_id": 1001, "incoming": incoming, "private": False,
                "body_text": "…", "created_at": f"2026-03-02T{t}Z"}
               for i, (t, incoming) in enumerate([("09:20:00", False), ("10:00:00", True),
                                                  ("10:30:00", False)])]
    groups = [{"id": 5, "name": "Billing", "description": "", "agent_ids": [3]}]
    floor.import_("freshdesk", [ticket], replies, groups)
    wait_for(lambda: counters(floor.port).get("support_events_duplicate_total", 0) >= 6, 60,
             "the imported copies seen as duplicates")
    assert floor.row(at, "queue=Billing") == live
    floor.agrees_with_oracle([at])


def _mirror(hooks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ticket events export of what the webhooks delivered (same ticket, comment ids,
    statuses and seconds), as Zendesk's export holds the same history."""
    out = []
    for i, h in enumerate(hooks):
        name, t = h["type"].removeprefix("zen:event-type:"), int(_epoch(h["time"][:19] + "Z"))
        ev = h.get("event") or {}
        if name == "ticket.created":
            d = h["detail"]
            child = {"id": 1, "event_type": "Create", "requester_id": d.get("requester_id"),
                     "group_id": d.get("group_id"), "priority": d.get("priority"),
                     "via": d.get("via")}
            t = int(_epoch(d["created_at"]))
        elif name == "ticket.comment_added":
            c = ev["comment"]
            author = c["author"]
            child = {"id": c["id"], "event_type": "Comment", "public": c.get("is_public", True),
                     "author_id": 1 if not author.get("is_staff") else author["id"]}
        elif name == "ticket.status_changed":
            child = {"id": i, "event_type": "Change", "status": ev["current"].lower(),
                     "previous_value": ev["previous"].lower()}
        else:
            continue  # messaging messages are not in the ticket events export
        out.append(_te(100 + i, 141, t, child, updater=1))
    return out


def test_a_backfill_into_a_live_pipeline_is_not_late(floor: Floor) -> None:
    """Live traffic now, then last week's history imported: none of it is dropped as late
    (it is sent as a backfill), and query --at shows it."""
    now = int(time.time())
    live = {"freshdesk_webhook": {"ticket_id": "1", "kpi_event": "ticket_created",
                                  "ticket_created_at": dt.datetime.fromtimestamp(
                                      now, dt.UTC).isoformat()}}
    assert floor.post("freshdesk", live) == 200
    floor.applied(2, "the live ticket")
    old = now - 7 * 86400
    tickets = [{"id": 100 + i, "created_at": dt.datetime.fromtimestamp(
        old + 60 * i, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "status": 2, "source": 1,
        "requester_id": 5} for i in range(10)]
    floor.import_("freshdesk", tickets)
    floor.applied(22, "the history")
    assert counters(floor.port).get("support_events_late_dropped_total", 0) == 0
    assert floor.row(old + 3600)["volume_created"] == 10


# 9 -----------------------------------------------------------------------------------------


def test_the_intake_answers_what_a_vendor_log_can_show(floor: Floor) -> None:
    """A signed body that is not JSON: 400, kept for the DLQ; a signature header with
    characters outside ASCII: 401, not a crash; 1.1 MB: 413, as JSON like every answer."""
    import urllib.error
    import urllib.request

    assert floor.post("intercom", b"") == 400
    assert floor.post("intercom", b"not json") == 400
    assert floor.post("intercom", b"{}", {"X-Hub-Signature": "sha1=caf\u00e9"}) == 401
    req = urllib.request.Request(
        f"http://127.0.0.1:{floor.env['SUPPORT_INTAKE_PORT']}/webhooks/intercom",
        data=b"{" + b" " * 1_150_000 + b"}", method="POST",
        headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 413 and json.loads(err.value.read())["status"] == 413
    wait_for(lambda: len(floor.dlq_reasons()) == 2, 60, "the two unreadable bodies on the DLQ")
    assert floor.dlq_reasons() == ["not_json", "not_json"]


# 10 ----------------------------------------------------------------------------------------


def test_zendesk_trigger_bodies_map_or_say_what_to_add(floor: Floor) -> None:
    """Existing trigger bodies (zendesk/01, 02, 04) cannot say what happened: refused with
    what to add. The body of docs/connectors.md maps: a creation, an agent's reply."""
    for name in ("01_trigger_webhook_structured_body", "02_trigger_webhook_message_body",
                 "04_trigger_webhook_minimal_token_body"):
        assert floor.post("zendesk", real(f"zendesk/{name}")) == 200
    t0 = int(time.time()) - 600

    def body(kind: str, t: int) -> dict[str, Any]:
        iso = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"support_kpi": {"kpi_event": kind, "ticket_id": "88", "status": "Open",
                                "priority": "Normal", "via": "Web Form",
                                "group": "Billing", "created_at": iso, "updated_at": iso}}

    assert floor.post("zendesk", body("ticket_created", t0)) == 200
    assert floor.post("zendesk", body("agent_reply", t0 + 90)) == 200
    floor.applied(2, "a creation and a reply")
    wait_for(lambda: floor.dlq_reasons() == ["needs_setting"] * 3, 60, "the refused bodies")
    row = floor.row(t0 + 120, "queue=Billing")
    assert (row["frt_count"], row["frt_mean_seconds"]) == (1, 90), row
