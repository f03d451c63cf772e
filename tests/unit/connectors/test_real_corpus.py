"""The conformance corpus (tests/fixtures/connectors/real): what real installs of
Chatwoot, Zendesk, Intercom and Freshdesk sent or their APIs returned, captured in public
repositories other than the vendors' docs, and what each maps to, worked out by hand from
the payload (SOURCES.md says what each shows). An event is ``type conversation actor
queue`` (``-`` for none), an agent event (schema v1.3) ``type conversation agent:<id>
status-or-queue``; ``refused <reason>`` is a payload refused with that reason (a webhook on
the DLQ, a record in the import's summary).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Context
from connectors.errors import ConnectorError
from connectors.registry import IMPORTS, VENDORS
from connectors.zendesk_export import UNKNOWN_REQUESTER
from tests.support import ROOT

REAL = ROOT / "tests/fixtures/connectors/real"
CTX = Context(received_at=1_700_000_000)

EXPECTED: dict[str, list[str]] = {
    "chatwoot/01_conversation_created_reconstructed": [
        "chat.started chatwoot:49 - inbox-36",
        "chat.handoff chatwoot:49 - -",
    ],
    "chatwoot/02_conversation_status_changed_reconstructed": [
        "chat.ended chatwoot:49 - -",
        # resolved: the assignee's (meta.assignee, user 1) contact ends, no wrap-up
        "agent.contact_ended chatwoot:49 agent:1 -",
        "agent.wrapup_ended chatwoot:49 agent:1 -",
    ],
    "chatwoot/03_conversation_updated_webwidget": [],
    "chatwoot/04_message_created_incoming_webwidget": ["chat.message chatwoot:6 customer inbox-9"],
    "chatwoot/05_message_created_outgoing_agent": ["chat.message chatwoot:49 agent inbox-36"],
    "chatwoot/06_message_created_outgoing_attachment_api": [
        "chat.message chatwoot:9 agent inbox-4"
    ],
    "chatwoot/07_message_created_api_channel_2022": [
        "chat.message chatwoot:11791 customer inbox-10"
    ],
    "chatwoot/08_message_created_agent_bot_api": ["chat.message chatwoot:2 customer inbox-1"],
    "chatwoot/09_message_created_whatsapp_media_2025": [
        "chat.message chatwoot:28016 customer inbox-380"
    ],
    "chatwoot/10_api_list_conversations": [
        "chat.started chatwoot:2 - inbox-2",
        "chat.handoff chatwoot:2 - -",
        "chat.message chatwoot:2 agent inbox-2",
    ],
    "chatwoot/11_api_contact_conversations": [
        "chat.started chatwoot:49 - inbox-36",
        "chat.handoff chatwoot:49 - -",
    ],
    "chatwoot/12_conversation_updated_assignee_reconstructed": [
        "agent.contact_started chatwoot:49 agent:1 inbox-36",  # nobody → user 1
    ],
    "freshdesk/01_ticket_created_triggered_event": [
        "ticket.created freshdesk:11 - -",
        "ticket.message freshdesk:11 customer -",
    ],
    "freshdesk/02_status_changed_triggered_event": [
        "ticket.reopened freshdesk:11 - -",
        "ticket.status_changed freshdesk:11 - -",
    ],
    "freshdesk/03_public_note_triggered_event": ["ticket.message freshdesk:11 agent -"],
    "freshdesk/04_private_note_triggered_event": [],
    "freshdesk/05_priority_changed_triggered_event": [],
    "freshdesk/06_status_changed_missing_triggered_event": ["refused needs_setting"],
    "freshdesk/07_ticket_created_inline_image_html": [
        "ticket.created freshdesk:12 - -",
        "ticket.message freshdesk:12 customer -",
    ],
    "freshdesk/08_api_ticket_pending_with_stats": [
        "ticket.created freshdesk:22 - -",
        "ticket.message freshdesk:22 customer -",
        "ticket.status_changed freshdesk:22 - -",
    ],
    "freshdesk/09_api_ticket_closed_outbound": [
        "ticket.created freshdesk:21 - -",
        "ticket.solved freshdesk:21 - -",
        "ticket.closed freshdesk:21 - -",
    ],
    "freshdesk/10_api_conversation_agent_reply": ["ticket.message freshdesk:22 agent -"],
    "freshdesk/11_api_conversation_private_note": [],
    "freshdesk/12_api_conversation_customer_reply_portal": [
        "ticket.message freshdesk:23 customer -"
    ],
    "freshdesk/13_api_satisfaction_rating": ["survey.csat freshdesk:23 - -"],
    "intercom/01_conversation_user_created_legacy": [
        "chat.started intercom:21321941764 - -",
        "chat.handoff intercom:21321941764 - -",
        "chat.message intercom:21321941764 customer -",
    ],
    # reply-and-assign: one part under two topics, one message and one contact start
    "intercom/02_conversation_admin_replied_assignment_part": [
        "chat.message intercom:21322009097 agent -",
        "agent.contact_started intercom:21322009097 agent:1957471 -",
    ],
    "intercom/03_conversation_admin_assigned_with_body": [
        "chat.message intercom:21322009097 agent -",
        "agent.contact_started intercom:21322009097 agent:1957471 -",
    ],
    "intercom/04_conversation_user_replied_legacy": [
        "chat.message intercom:21322009097 customer -"
    ],
    "intercom/05_conversation_admin_noted_legacy": [],
    "intercom/06_conversation_admin_snoozed_legacy": [],
    "intercom/07_conversation_admin_closed_legacy": [
        "chat.ended intercom:21322009097 - -",
        "agent.contact_ended intercom:21322009097 agent:1957471 -",
        "agent.wrapup_ended intercom:21322009097 agent:1957471 -",
    ],
    "intercom/08_conversation_operator_replied_current_model": [
        "chat.message intercom:215472621202693 bot -"
    ],
    "intercom/09_api_conversation_customer_initiated": [
        "chat.started intercom:1 - -",
        "chat.handoff intercom:1 - -",
        "chat.message intercom:1 customer -",
    ],
    "intercom/10_api_conversation_admin_initiated": ["chat.started intercom:60 - -"],
    "intercom/11_api_conversation_part_user_comment": ["chat.message intercom:1 customer -"],
    "intercom/12_api_conversation_part_bot_comment": ["chat.message intercom:1 bot -"],
    "intercom/13_api_ticket_tracker": ["refused unknown_payload"],
    "intercom/14_admin_away_mode_updated": ["agent.status_changed - agent:1234567 away"],
    "intercom/15_admin_logged_out": ["agent.status_changed - agent:1234567 offline"],
    # logged in with away mode still on: away, not available
    "intercom/16_admin_logged_in": ["agent.status_changed - agent:1234567 away"],
    "intercom/17_conversation_admin_open_assigned_current_model": [
        "chat.message intercom:215472621202693 agent -",
        "agent.contact_started intercom:215472621202693 agent:9608799 -",
    ],
    "intercom/18_conversation_admin_assigned_older_model": [
        "agent.contact_started intercom:137324500000000 agent:3330619 -",
    ],
    "intercom/19_conversation_admin_closed_older_model": [
        "chat.ended intercom:137324500000000 - -",
        "agent.contact_ended intercom:137324500000000 agent:3330619 -",
        "agent.wrapup_ended intercom:137324500000000 agent:3330619 -",
    ],
    "zendesk/01_trigger_webhook_structured_body": ["refused needs_setting"],
    "zendesk/02_trigger_webhook_message_body": ["refused needs_setting"],
    "zendesk/03_trigger_body_template_pipedream": ["refused needs_setting"],
    "zendesk/04_trigger_webhook_minimal_token_body": ["refused needs_setting"],
    "zendesk/07_api_ticket_closed_csat_unoffered": [
        "ticket.created zendesk:1 - group-360003074836",
        "ticket.solved zendesk:1 - -",
        "ticket.closed zendesk:1 - -",
    ],
    "zendesk/08_api_ticket_voicemail_csat_offered": ["ticket.created zendesk:145 - -"],
    "zendesk/09_api_satisfaction_rating_offered": [],
    "zendesk/10_api_ticket_comment_event": [f"refused {UNKNOWN_REQUESTER}"],
    "zendesk/11_api_ticket_metrics_reopened": [],
    "zendesk/12_api_ticket_metric_event_requester_wait": [],
    "zendesk/13_api_audit_ticket_create_with_comment": [
        "ticket.created zendesk:29 - -",
        "ticket.message zendesk:29 customer -",
    ],
    "zendesk/14_api_audit_status_change": ["ticket.status_changed zendesk:1 - -"],
    "zendesk/15_api_incremental_ticket_pending_csat_null": ["ticket.created zendesk:4036 - -"],
}


# the customer_id of each event mapped, in order (``-`` for none), where it comes from
# (SOURCES.md): Chatwoot ``meta.sender.id`` / ``contact_inbox.contact_id`` / a contact's
# message sender; Freshdesk a ticket record's ``requester_id`` (Zulip's rule bodies name
# the requester by name and email only, a conversation or rating record not at all);
# Intercom ``contacts.contacts[0].id`` or the older model's ``user.id`` (a part exported on
# its own names none); Zendesk ``requester_id`` of a ticket record or an audit's Create.
CUSTOMERS: dict[str, list[str]] = {
    "chatwoot/01_conversation_created_reconstructed": ["715", "715"],
    "chatwoot/02_conversation_status_changed_reconstructed": ["715", "-", "-"],  # agents
    "chatwoot/04_message_created_incoming_webwidget": ["405"],
    "chatwoot/05_message_created_outgoing_agent": ["715"],
    "chatwoot/06_message_created_outgoing_attachment_api": ["195"],
    "chatwoot/07_message_created_api_channel_2022": ["1000"],  # sender null, meta.sender
    "chatwoot/08_message_created_agent_bot_api": ["2"],
    "chatwoot/09_message_created_whatsapp_media_2025": ["1452266"],
    "chatwoot/10_api_list_conversations": ["2", "2", "2"],  # meta.sender without a type
    "chatwoot/11_api_contact_conversations": ["715", "715"],
    "freshdesk/01_ticket_created_triggered_event": ["-", "-"],
    "freshdesk/02_status_changed_triggered_event": ["-", "-"],
    "freshdesk/03_public_note_triggered_event": ["-"],
    "freshdesk/07_ticket_created_inline_image_html": ["-", "-"],
    "freshdesk/08_api_ticket_pending_with_stats": ["67032849498"] * 3,
    "freshdesk/09_api_ticket_closed_outbound": ["67042965499"] * 3,
    "freshdesk/10_api_conversation_agent_reply": ["-"],
    "freshdesk/12_api_conversation_customer_reply_portal": ["-"],
    "freshdesk/13_api_satisfaction_rating": ["-"],
    "intercom/01_conversation_user_created_legacy": ["5c9553cb27e377f24eed49f7"] * 3,
    # an agent event names no customer: it is the agent's
    "intercom/02_conversation_admin_replied_assignment_part": ["5c9553cb27e377f24eed49f7", "-"],
    "intercom/03_conversation_admin_assigned_with_body": ["5c9553cb27e377f24eed49f7", "-"],
    "intercom/04_conversation_user_replied_legacy": ["5c9553cb27e377f24eed49f7"],
    "intercom/07_conversation_admin_closed_legacy": ["5c9553cb27e377f24eed49f7", "-", "-"],
    "intercom/08_conversation_operator_replied_current_model": ["696205460674dbb9050aa7fd"],
    "intercom/09_api_conversation_customer_initiated": ["5fd150d50697b6d0bbc4a2c2"] * 3,
    # outbound: the author is the teammate, the contact listed is the customer
    "intercom/10_api_conversation_admin_initiated": ["63ea41a0eddb9b625fb712c9"],
    "intercom/11_api_conversation_part_user_comment": ["-"],
    "intercom/12_api_conversation_part_bot_comment": ["-"],
    "intercom/17_conversation_admin_open_assigned_current_model": [
        "696205460674dbb9050aa7fd", "-"],
    "intercom/19_conversation_admin_closed_older_model": ["5ee3d479d1cf3dedbee23d68", "-", "-"],
    "intercom/14_admin_away_mode_updated": ["-"],
    "intercom/15_admin_logged_out": ["-"],
    "intercom/16_admin_logged_in": ["-"],
    "intercom/18_conversation_admin_assigned_older_model": ["-"],
    "chatwoot/12_conversation_updated_assignee_reconstructed": ["-"],
    "zendesk/07_api_ticket_closed_csat_unoffered": ["360839922496"] * 3,
    "zendesk/08_api_ticket_voicemail_csat_offered": ["5527111815439"],
    # the Create's requester_id value is a string; the requester's own comment carries it
    "zendesk/13_api_audit_ticket_create_with_comment": ["6130907993114"] * 2,
    "zendesk/14_api_audit_status_change": ["-"],
    "zendesk/15_api_incremental_ticket_pending_csat_null": ["6314931549722"],
}


def files() -> list[Path]:
    return sorted(REAL.glob("*/*.json"))


def events_of(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The events a file maps to, and what it refused (``refused <reason>``)."""
    doc = json.loads(path.read_text())
    vendor = path.parent.name
    try:
        if doc["kind"] == "webhook":
            return VENDORS[vendor].normalize(doc["payload"], CTX), []
        imported = IMPORTS[vendor]([doc["payload"]], CTX)
    except ConnectorError as err:
        return [], [f"refused {err.reason}"]
    return imported.events, [f"refused {r}" for r in imported.refused]


def mapped(path: Path) -> list[str]:
    events, refused = events_of(path)
    return refused + [
        f"{e['type']} {e.get('conversation_id', '-')} agent:{e['agent_id']} "
        f"{e.get('status') or e.get('queue', '-')}" if e["type"].startswith("agent.") else
        f"{e['type']} {e['conversation_id']} {e.get('actor', '-')} {e.get('queue', '-')}"
        for e in events
    ]


def test_every_file_has_its_expectation_and_at_least_eight_per_vendor() -> None:
    names = {f"{p.parent.name}/{p.stem}" for p in files()}
    assert names == EXPECTED.keys()
    assert CUSTOMERS.keys() <= names
    for vendor in ("chatwoot", "freshdesk", "intercom", "zendesk"):
        assert sum(n.startswith(vendor + "/") for n in names) >= 8, vendor


@pytest.mark.parametrize("path", files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_real_payload_maps_to_what_it_says(path: Path) -> None:
    assert mapped(path) == EXPECTED[f"{path.parent.name}/{path.stem}"]


@pytest.mark.parametrize("path", files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_real_payload_names_its_customer_as_it_says(path: Path) -> None:
    """The customer_id of each event is the vendor's raw id, exactly as the payload gives
    it (a string), or none where the payload names none; a file mapping to nothing has
    no entry."""
    events, _ = events_of(path)
    want = CUSTOMERS.get(f"{path.parent.name}/{path.stem}", [])
    assert [e.get("customer_id", "-") for e in events] == want
    assert all(isinstance(e.get("customer_id", ""), str) for e in events)


@pytest.mark.parametrize("path", files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_each_file_cites_a_repository_path_and_commit(path: Path) -> None:
    source: dict[str, Any] = json.loads(path.read_text())["source"]
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", source["repo"]), source
    assert source["path"] and re.fullmatch(r"[0-9a-f]{40}", source["commit"]), source
    assert not source["repo"].lower().startswith(("zendesk/", "intercom/", "freshworks/")), (
        "a vendor's own docs are not real traffic"
    )
    assert path.name in (REAL / "SOURCES.md").read_text()
