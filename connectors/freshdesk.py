"""Freshdesk automation webhooks → schema v1.

Freshdesk sends a webhook from an automation rule's "Trigger webhook" action, and the
admin composes its body. The monitor reads the body the way Freshdesk's Simple content
names its fields: a ``freshdesk_webhook`` object with ``ticket_id``, ``ticket_status``,
``ticket_priority``, ``ticket_source``, ``ticket_group_name``, ``ticket_created_at`` and
``ticket_updated_at`` (https://support.freshdesk.com/support/solutions/articles/
132589-using-webhooks-in-automation-rules). One rule per trigger adds the one field the
rule knows and Freshdesk has no placeholder for: ``kpi_event``, what happened
(docs/connectors.md has the body to paste).

Freshdesk does not sign webhooks, so the rule sends the shared secret in a custom
``X-Support-Kpi-Token`` header. A delivery's id is the ticket, the event and the ticket's
update time. A retry repeats the body, so it is a duplicate, not a new event.
"""

from __future__ import annotations

from typing import Any

from connectors import signatures
from connectors.base import Doc, Vendor, event, iso, need
from connectors.errors import ConnectorError

NAME = "freshdesk"
TOKEN_HEADER = "x-support-kpi-token"
# Freshdesk's source names (webhooks) and numbers (API v2) → the schema's channel
SOURCE = {"email": "email", "portal": "web", "phone": "voice", "chat": "chat",
          "feedback widget": "web", "outbound email": "email", "forum": "web",
          "twitter": "social", "facebook": "social", "whatsapp": "social",
          "mobihelp": "mobile", "ecommerce": "web", "bot": "chat",
          1: "email", 2: "web", 3: "voice", 5: "social", 6: "social", 7: "chat",
          8: "mobile", 9: "web", 10: "email", 11: "web", 12: "web", 13: "chat"}
PRIORITY = {"low": "low", "medium": "normal", "high": "high", "urgent": "urgent",
            1: "low", 2: "normal", 3: "high", 4: "urgent"}
# Freshdesk statuses (names and API v2 numbers) → the schema's status events.
STATUS = {"open": "open", "pending": "pending", "waiting on customer": "pending",
          "waiting on third party": "on_hold", "resolved": "resolved", "closed": "closed",
          2: "open", 3: "pending", 4: "resolved", 5: "closed", 6: "pending", 7: "on_hold"}
EVENTS = ("ticket_created", "agent_reply", "customer_reply", "status_changed",
          "ticket_reopened")


def labels(ticket: Doc, prefix: str = "ticket_") -> dict[str, Any]:
    """Channel, priority and queue (the group) of a webhook's ticket fields (prefix
    ``ticket_``) or of an API v2 ticket (no prefix, numbers for source and priority)."""
    def code(name: str) -> Any:
        v = ticket.get(prefix + name)
        return v.strip().lower() if isinstance(v, str) else v

    group = ticket.get(prefix + "group_name") or ticket.get(prefix + "group_id")
    return {"channel": SOURCE.get(code("source"), ""),
            "priority": PRIORITY.get(code("priority"), ""),
            "queue": (f"group-{group}" if isinstance(group, int) else str(group or ""))}


def status_events(status: Any, eid: str, key: str, at: str) -> list[Doc]:
    """A Freshdesk status (a name or an API v2 number) as schema events."""
    mapped = STATUS.get(status.strip().lower() if isinstance(status, str) else status)
    if mapped is None:
        raise ConnectorError("unknown_payload", f"unknown Freshdesk status {status!r}")
    if mapped == "resolved":
        return [event(NAME, eid, "ticket.solved", key, at)]
    if mapped == "closed":
        return [event(NAME, eid, "ticket.closed", key, at)]
    return [event(NAME, eid, "ticket.status_changed", key, at, status=mapped)]


def _ticket(doc: Doc) -> Doc:
    ticket = doc.get("freshdesk_webhook")
    if not isinstance(ticket, dict):
        raise ConnectorError("unknown_payload", "not a Freshdesk webhook: no "
                                                "freshdesk_webhook object")
    return ticket


def conversation_of(doc: Doc) -> str | None:
    ticket = doc.get("freshdesk_webhook")
    if not isinstance(ticket, dict) or ticket.get("ticket_id") in (None, ""):
        return None
    return f"{ticket.get('account', '0')}:{ticket['ticket_id']}"


def normalize(doc: Doc) -> list[Doc]:
    ticket = _ticket(doc)
    kind = need(ticket, "kpi_event", "Freshdesk webhook")
    if kind not in EVENTS:
        raise ConnectorError("unknown_payload", f"kpi_event {kind!r} is none of "
                                                f"{', '.join(EVENTS)}")
    key = f"{ticket.get('account', '0')}:{need(ticket, 'ticket_id', 'Freshdesk webhook')}"
    if kind == "ticket_created":
        at = iso(need(ticket, "ticket_created_at", "ticket_created"), "ticket_created")
        return [event(NAME, f"{key}:created", "ticket.created", key, at, **labels(ticket)),
                event(NAME, f"{key}:description", "ticket.message", key, at,
                      actor="customer")]
    at = iso(need(ticket, "ticket_updated_at", kind), kind)
    eid = f"{key}:{kind}:{at}"
    if kind == "agent_reply":
        return [event(NAME, eid, "ticket.message", key, at, actor="agent")]
    if kind == "customer_reply":
        return [event(NAME, eid, "ticket.message", key, at, actor="customer")]
    if kind == "ticket_reopened":
        return [event(NAME, eid, "ticket.reopened", key, at)]
    return status_events(need(ticket, "ticket_status", kind), eid, key, at)


VENDOR = Vendor(NAME, normalize, conversation_of, signatures.shared_secret(TOKEN_HEADER),
                "X-Support-Kpi-Token: the shared secret (a custom header on the rule)")
