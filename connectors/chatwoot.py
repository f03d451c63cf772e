"""Chatwoot (open source) account webhooks → schema v1.

Events (https://www.chatwoot.com/docs/product/others/webhook-events): the conversation
object for ``conversation_created`` / ``conversation_status_changed`` /
``conversation_updated``, the message object for ``message_created`` / ``message_updated``.
A conversation is keyed by its ``display_id`` (the number agents see; the message
payload carries only that) within its account. An email inbox makes it a ticket,
every other inbox a chat.
"""

from __future__ import annotations

from typing import Any

from connectors import signatures
from connectors.base import Doc, Vendor, event, iso, need
from connectors.errors import ConnectorError

NAME = "chatwoot"
# Chatwoot priorities → the schema's; Chatwoot's "medium" is the default "normal"
PRIORITY = {"low": "low", "medium": "normal", "high": "high", "urgent": "urgent"}
ACTIVITY = ("activity", 2)  # system notes ("Conversation was resolved by ...")


def _channel(conversation: Doc) -> str:
    """``Channel::WebWidget`` → chat, ``Channel::Email`` → email, else the channel's name."""
    name = str(conversation.get("channel") or "").removeprefix("Channel::").lower()
    return {"webwidget": "chat", "": "chat"}.get(name, name)


def _conversation_key(conversation: Doc, account: Any) -> str:
    cid = conversation.get("display_id", conversation.get("id"))
    if cid is None:
        raise ConnectorError("missing_field", "conversation has no display_id or id")
    return f"{account}:{cid}"


def _account(doc: Doc, conversation: Doc) -> Any:
    acc = doc.get("account")
    return (acc or {}).get("id") if isinstance(acc, dict) else \
        conversation.get("account_id", doc.get("account_id", "0"))


def _labels(conversation: Doc, doc: Doc) -> dict[str, str]:
    meta = conversation.get("meta") or {}
    team = meta.get("team") or conversation.get("team") or {}
    inbox = doc.get("inbox") or {}
    queue = inbox.get("name") if isinstance(inbox, dict) else None
    if not queue and conversation.get("inbox_id") is not None:
        queue = f"inbox-{conversation['inbox_id']}"
    return {"channel": _channel(conversation), "queue": queue or "",
            "team": team.get("name", "") if isinstance(team, dict) else "",
            "priority": PRIORITY.get(str(conversation.get("priority") or ""), "")}


def _kind(conversation: Doc) -> str:
    return "ticket" if _channel(conversation) == "email" else "chat"


def conversation_of(doc: Doc) -> str | None:
    conversation = doc.get("conversation") if "conversation" in doc else doc
    if not isinstance(conversation, dict):
        return None
    try:
        return _conversation_key(conversation, _account(doc, conversation))
    except ConnectorError:
        return None


def _created(doc: Doc) -> list[Doc]:
    """A ticket is created; a chat starts, and joins the human queue at once unless a bot
    has it (Chatwoot opens a bot's conversation as "pending")."""
    key = _conversation_key(doc, _account(doc, doc))
    at = iso(doc.get("created_at") or doc.get("timestamp"), "conversation")
    if _kind(doc) == "ticket":
        return [event(NAME, f"{key}:created", "ticket.created", key, at, **_labels(doc, doc))]
    out = [event(NAME, f"{key}:created", "chat.started", key, at, **_labels(doc, doc))]
    if doc.get("status", "open") == "open":
        out.append(event(NAME, f"{key}:queued", "chat.handoff", key, at))
    return out


def _status(doc: Doc) -> list[Doc]:
    """Resolved ends it; pending → open is the bot handing a chat to a human (Chatwoot's
    "pending" is a bot's conversation); open after resolved reopens a ticket; pending
    and snoozed on a ticket are the schema's pending and on_hold."""
    key = _conversation_key(doc, _account(doc, doc))
    kind, status = _kind(doc), str(need(doc, "status", "conversation"))
    previous = _previous_status(doc)
    at = iso(doc.get("updated_at") or doc.get("timestamp"), "status change")
    eid = f"{key}:status:{status}:{at}"
    if status == "resolved":
        return [event(NAME, eid, "ticket.solved" if kind == "ticket" else "chat.ended", key, at)]
    if kind == "chat":
        return [event(NAME, eid, "chat.handoff", key, at)] if (status, previous) == \
            ("open", "pending") else []
    if status == "open" and previous == "resolved":
        return [event(NAME, eid, "ticket.reopened", key, at)]
    mapped = {"pending": "pending", "snoozed": "on_hold", "open": "open"}.get(status)
    return [event(NAME, eid, "ticket.status_changed", key, at, status=mapped)] if mapped else []


def _previous_status(doc: Doc) -> str | None:
    for change in doc.get("changed_attributes") or []:
        if isinstance(change, dict) and isinstance(change.get("status"), dict):
            return change["status"].get("previous_value")
    return None


def _message(doc: Doc) -> list[Doc]:
    """Incoming is the customer; outgoing an agent, or the bot when an agent bot sent it;
    private notes and activity messages are not conversation; a submitted CSAT survey
    (``message_updated`` of an ``input_csat`` message) is the rating."""
    conversation = doc.get("conversation") or {}
    key = _conversation_key(conversation, _account(doc, conversation))
    mid = need(doc, "id", "message")
    at = iso(doc.get("created_at"), "message")
    rating = (((doc.get("content_attributes") or {}).get("submitted_values") or {})
              .get("csat_survey_response") or {}).get("rating")
    if doc.get("content_type") == "input_csat":
        if rating is None:
            return []
        return [event(NAME, f"{key}:csat:{mid}", "survey.csat", key,
                      iso(doc.get("updated_at") or doc.get("created_at"), "survey"),
                      score=rating)]
    if doc.get("event") == "message_updated" or doc.get("private") or \
            doc.get("message_type") in ACTIVITY:
        return []
    sender = doc.get("sender") or {}
    incoming = doc.get("message_type") in ("incoming", 0)
    actor = "customer" if incoming else (
        "agent" if sender.get("type") == "user" else "bot")
    return [event(NAME, f"{key}:message:{mid}", f"{_kind(conversation)}.message", key, at,
                  actor=actor,
                  agent_id=str(sender.get("id")) if actor == "agent" and sender.get("id")
                  else None)]


HANDLERS = {"conversation_created": _created, "conversation_status_changed": _status,
            "message_created": _message, "message_updated": _message}
# sent by Chatwoot, nothing a KPI needs
SKIPPED = frozenset({"conversation_updated", "contact_created", "contact_updated",
                     "webwidget_triggered", "conversation_typing_on", "conversation_typing_off"})


def normalize(doc: Doc) -> list[Doc]:
    name = doc.get("event")
    if name in SKIPPED:
        return []
    if name not in HANDLERS:
        raise ConnectorError("unknown_payload", f"not a Chatwoot webhook event: {name!r}")
    return HANDLERS[str(name)](doc)


VENDOR = Vendor(NAME, normalize, conversation_of, signatures.chatwoot,
                "X-Chatwoot-Signature: sha256=HMAC-SHA256(secret, timestamp + '.' + body)",
                topic="chats")
