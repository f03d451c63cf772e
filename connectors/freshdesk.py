"""Freshdesk automation webhooks → schema v1.

Freshdesk sends a webhook from an automation rule's "Trigger webhook" action, and the admin
composes its body; what real rules send (captures in tests/fixtures/connectors/real/
freshdesk): a ``freshdesk_webhook`` object of quoted placeholders (every value a string)
whose ``triggered_event`` says what happened, in Freshdesk's own non-JSON notation:
``{ticket_action:created}``, ``{status:{from:4,to:6}}`` (status numbers),
``{note_type:public}``, ``{priority:{from:3,to:1}}``. A rule of docs/connectors.md may add
``kpi_event`` instead (replies have no ``triggered_event``: "Reply is sent", "Customer
replies" rules). The bodies carry no time unless the rule adds one (``ticket_updated_at``):
the time is then when the intake received the delivery, which Freshdesk sends as the rule
fires.

Freshdesk does not sign webhooks, so the rule sends the shared secret in a custom
``X-Support-Kpi-Token`` header. Freshdesk sends no id of a reply or note: an event's id is
the ticket, what happened and its second, which the import derives from the API's records
alike, so history imported over live webhooks counts once. The queue is the group:
``ticket_group_name`` as the rule gives it, and the import names groups by id the same way
(``SUPPORT_QUEUES``, or the groups export among its files). The customer (schema v1.2's
``customer_id``) is the ticket's requester, when the rule sends ``requester_id``
(``{{ticket.requester.id}}``, docs/connectors.md): real rules often send only the
requester's name and email, which are no id.
"""

from __future__ import annotations

import re
from typing import Any

from connectors import signatures
from connectors.base import Context, Doc, Vendor, customer, event, iso, need, seconds, with_customer
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
# Freshdesk statuses (names and API v2 numbers; 6 and up are an account's own, the common
# ones "Waiting on Customer" and "Waiting on Third Party") → the schema's
STATUS = {"open": "open", "pending": "pending", "waiting on customer": "pending",
          "waiting on third party": "on_hold", "resolved": "resolved", "closed": "closed",
          2: "open", 3: "pending", 4: "resolved", 5: "closed", 6: "pending", 7: "on_hold"}
DONE = ("resolved", "closed")
EVENTS = ("ticket_created", "agent_reply", "customer_reply", "status_changed",
          "ticket_reopened")
# what triggered_event says, by its key (a value adds ":<value>": note_type:public)
KNOWN = (*EVENTS, "status", "priority")
# {status:{from:4,to:6}}, {ticket_action:created}, {note_type:public}
TRIGGERED = re.compile(r"^\{(\w+):(?:\{from:([^,}]*),to:([^}]*)\}|([^}]*))\}$")


def _code(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower()
        return int(text) if text.isdigit() else text
    return value


def labels(ticket: Doc, ctx: Context, prefix: str = "ticket_") -> dict[str, Any]:
    """Channel, priority and queue of a webhook's ticket fields (prefix ``ticket_``) or of
    an API v2 ticket (no prefix, numbers for source and priority, the group by id)."""
    return {"channel": SOURCE.get(_code(ticket.get(prefix + "source")), ""),
            "priority": PRIORITY.get(_code(ticket.get(prefix + "priority")), ""),
            "queue": ctx.queue("group", ticket.get(prefix + "group_id"),
                               ticket.get(prefix + "group_name"))}


def status_events(status: Any, key: str, at: str, previous: Any = None) -> list[Doc]:
    """A Freshdesk status (a name or a number) as schema events; from resolved or closed to
    anything else it is a reopen."""
    mapped, before = STATUS.get(_code(status)), STATUS.get(_code(previous))
    if mapped is None:
        raise ConnectorError("unknown_payload", f"unknown Freshdesk status {status!r} (an "
                             "account's own status: name it Waiting on Customer or Waiting "
                             "on Third Party, or send its meaning in kpi_event)")
    eid = f"{key}:status:{mapped}:{seconds(at)}"
    if mapped == "resolved":
        return [event(NAME, eid, "ticket.solved", key, at)]
    if mapped == "closed":
        return [event(NAME, eid, "ticket.closed", key, at)]
    out = [event(NAME, f"{key}:reopened:{seconds(at)}", "ticket.reopened", key, at)] \
        if before in DONE else []
    return [*out, event(NAME, eid, "ticket.status_changed", key, at, status=mapped)]


def reply(key: str, at: str, customer: bool, agent: Any = None) -> Doc:
    """A reply or public note: its id is the ticket, who wrote and the second."""
    actor = "customer" if customer else "agent"
    return event(NAME, f"{key}:reply:{actor}:{seconds(at)}", "ticket.message", key, at,
                 actor=actor, agent_id=None if customer or agent is None else str(agent))


def created(key: str, at: str, fields: dict[str, Any], description: bool) -> list[Doc]:
    out = [event(NAME, f"{key}:created", "ticket.created", key, at, **fields)]
    if description:  # the ticket's description is the customer's first message
        out.append(event(NAME, f"{key}:description", "ticket.message", key, at,
                         actor="customer"))
    return out


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
    return str(ticket["ticket_id"])


def _what(ticket: Doc) -> tuple[str, Any, Any]:
    """What happened: (kind, from, to) of ``triggered_event``, or ``kpi_event``."""
    if ticket.get("kpi_event"):
        return str(ticket["kpi_event"]), None, ticket.get("ticket_status")
    found = TRIGGERED.match(str(ticket.get("triggered_event") or "").replace(" ", ""))
    if found is None:
        raise ConnectorError(
            "needs_setting", "a Freshdesk rule body needs \"triggered_event\": "
            "\"{{triggered_event}}\" or a \"kpi_event\" (docs/connectors.md, Freshdesk); "
            f"this one has {', '.join(sorted(ticket))[:200]}")
    name, before, after, value = found.groups()
    return (f"{name}:{value}", None, None) if value is not None else (name, before, after)


def normalize(doc: Doc, ctx: Context) -> list[Doc]:
    ticket = _ticket(doc)
    requester = customer(ticket.get("requester_id"), ticket.get("ticket_requester_id"))
    return with_customer(_events(ticket, ctx), requester)


def _events(ticket: Doc, ctx: Context) -> list[Doc]:
    ctx.check_account(ticket.get("account"), "the Freshdesk webhook")
    kind, before, after = _what(ticket)
    if kind not in KNOWN and not kind.startswith(("note_type:", "ticket_action:")):
        raise ConnectorError("unknown_payload", f"Freshdesk event {kind!r} is none of "
                                                f"{', '.join(EVENTS)} nor a triggered_event")
    key = ctx.key(need(ticket, "ticket_id", "Freshdesk webhook"))
    if kind in ("ticket_created", "ticket_action:created"):
        at = iso(ticket.get("ticket_created_at") or ctx.received_at, "ticket_created")
        return created(key, at, labels(ticket, ctx), description=True)
    at = iso(ticket.get("ticket_updated_at") or ctx.received_at, kind)
    if kind in ("agent_reply", "note_type:public"):
        return [reply(key, at, customer=False)]
    if kind == "customer_reply":
        return [reply(key, at, customer=True)]
    if kind == "ticket_reopened":
        return [event(NAME, f"{key}:reopened:{seconds(at)}", "ticket.reopened", key, at)]
    if kind in ("status_changed", "status"):
        return status_events(after if after is not None else
                             need(ticket, "ticket_status", kind), key, at, before)
    return []  # private notes, priority changes, updates: nothing a KPI needs


VENDOR = Vendor(NAME, normalize, conversation_of, signatures.shared_secret(TOKEN_HEADER),
                "X-Support-Kpi-Token: the shared secret (a custom header on the rule)")
