"""Zendesk event webhooks (``zen:event-type:ticket.*`` and messaging) → schema v1.

The envelope (https://developer.zendesk.com/api-reference/webhooks/event-types/
webhook-event-types/): ``id`` (the event's own id), ``type``, ``time``, ``account_id``,
``subject`` (``zen:ticket:<id>``), ``detail`` (the ticket: group_id, priority,
via.channel, ...) and ``event`` (what changed). A ticket's group is its queue.
"""

from __future__ import annotations

from typing import Any

from connectors import signatures
from connectors.base import Doc, Vendor, event, iso, need
from connectors.errors import ConnectorError

NAME = "zendesk"
PREFIX = "zen:event-type:"
CHANNEL = {"web": "web", "email": "email", "chat": "chat", "native_messaging": "chat",
           "api": "api", "voice": "voice", "mobile": "mobile", "facebook": "social",
           "twitter": "social", "whatsapp": "social", "instagram_dm": "social"}


def conversation_of(doc: Doc) -> str | None:
    ticket = _ticket_id(doc)
    return f"{doc.get('account_id', '0')}:{ticket}" if ticket else None


def _ticket_id(doc: Doc) -> str | None:
    subject = str(doc.get("subject") or "")
    if subject.startswith("zen:ticket:"):
        return subject.removeprefix("zen:ticket:")
    detail = doc.get("detail") or {}
    return str(detail["id"]) if isinstance(detail, dict) and detail.get("id") else None


def _labels(detail: Doc) -> dict[str, Any]:
    via = (detail.get("via") or {}).get("channel") if isinstance(detail.get("via"), dict) \
        else detail.get("via.channel")
    group = detail.get("group_id")
    return {"channel": CHANNEL.get(str(via or "").lower(), str(via or "").lower()),
            "queue": f"group-{group}" if group not in (None, "", "0", 0) else "",
            "priority": str(detail.get("priority") or "").lower()}


def _comment(doc: Doc, key: str, at: str) -> list[Doc]:
    """A public comment by staff is an agent reply, by anyone else the customer's message;
    a private comment is an internal note, not conversation."""
    comment = (doc.get("event") or {}).get("comment") or {}
    if not comment.get("is_public", True):
        return []
    author = comment.get("author") or {}
    staff = bool(author.get("is_staff"))
    return [event(NAME, str(need(doc, "id", "event")), "ticket.message", key, at,
                  actor="agent" if staff else "customer",
                  agent_id=str(author.get("id")) if staff and author.get("id") else None)]


# Zendesk statuses the v1.1 status event carries (solved, closed and reopen have events)
STATUS = {"pending": "pending", "hold": "on_hold", "open": "open"}


def status_events(current: str, previous: str, eid: str, key: str, at: str) -> list[Doc]:
    """A Zendesk status change (webhook or export, lower-case) as schema events."""
    if current == "solved":
        return [event(NAME, eid, "ticket.solved", key, at)]
    if current == "closed":
        return [event(NAME, eid, "ticket.closed", key, at)]
    if current == "open" and previous == "solved":
        return [event(NAME, eid, "ticket.reopened", key, at)]
    if current not in STATUS or (current == "open" and previous in ("", "new")):
        return []  # new → open is the first assignment, not a status a clock cares about
    return [event(NAME, eid, "ticket.status_changed", key, at, status=STATUS[current])]


def _status(doc: Doc, key: str, at: str) -> list[Doc]:
    change = doc.get("event") or {}
    return status_events(str(change.get("current") or "").lower(),
                         str(change.get("previous") or "").lower(),
                         str(need(doc, "id", "event")), key, at)


def _messaging(doc: Doc, key: str, at: str) -> list[Doc]:
    """A messaging (chat) message: an end user's is the customer's, an agent's a reply,
    a trigger's or the system's (AI agents) the bot's."""
    actor = ((doc.get("event") or {}).get("actor") or {})
    kind = {"end_user": "customer", "agent": "agent"}.get(str(actor.get("type")), "bot")
    return [event(NAME, str(need(doc, "id", "event")), "ticket.message", key, at, actor=kind,
                  agent_id=str(actor.get("id")) if kind == "agent" else None)]


def normalize(doc: Doc) -> list[Doc]:
    typ = str(doc.get("type") or "")
    if not typ.startswith(PREFIX):
        raise ConnectorError("unknown_payload", f"not a Zendesk event webhook: type {typ!r}")
    name = typ.removeprefix(PREFIX)
    ticket = _ticket_id(doc)
    if ticket is None:
        if name.startswith(("ticket.", "messaging_ticket.")):
            raise ConnectorError("missing_field", f"{name} has no ticket (subject)")
        return []  # user, organization, article events: nothing a KPI needs
    key = f"{doc.get('account_id', '0')}:{ticket}"
    at = iso(doc.get("time"), name)
    if name == "ticket.created":
        detail = doc.get("detail") or {}
        return [event(NAME, str(need(doc, "id", "event")), "ticket.created", key,
                      iso(detail.get("created_at") or doc.get("time"), name),
                      **_labels(detail))]
    if name == "ticket.comment_added":
        return _comment(doc, key, at)
    if name == "ticket.status_changed":
        return _status(doc, key, at)
    if name == "messaging_ticket.message_added":
        return _messaging(doc, key, at)
    return []  # priority, group, tags, ... changes: the labels stay those at creation


VENDOR = Vendor(NAME, normalize, conversation_of, signatures.zendesk,
                "X-Zendesk-Webhook-Signature: base64(HMAC-SHA256(secret, timestamp + body))")
