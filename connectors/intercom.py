"""Intercom conversation webhooks (notification_event, ``conversation.*`` topics) → schema v1.

A notification (https://developers.intercom.com/docs/references/2.11/webhooks/webhook-models)
carries ``topic`` and the conversation as ``data.item``: its ``source`` (the opening
message), ``state``, ``priority``, ``team_assignee_id``, ``conversation_rating`` and the
new ``conversation_parts``. Each part has its own id, so a part seen again in a later
notification (or a retried delivery) is a duplicate, not a new message.
"""

from __future__ import annotations

from typing import Any

from connectors import signatures
from connectors.base import Doc, Vendor, event, iso, need
from connectors.errors import ConnectorError

NAME = "intercom"
CUSTOMER = ("user", "lead", "contact")
CHANNEL = {"conversation": "chat", "email": "email", "facebook": "social",
           "twitter": "social", "whatsapp": "social", "instagram": "social", "sms": "sms",
           "phone_call": "voice"}


def _item(doc: Doc) -> Doc:
    item = (doc.get("data") or {}).get("item") if isinstance(doc.get("data"), dict) else None
    if not isinstance(item, dict):
        raise ConnectorError("missing_field", "notification has no data.item")
    return item


def conversation_of(doc: Doc) -> str | None:
    try:
        cid = _item(doc).get("id")
    except ConnectorError:
        return None
    return f"{doc.get('app_id', '0')}:{cid}" if cid else None


def _actor(author: Any) -> str:
    kind = (author or {}).get("type") if isinstance(author, dict) else None
    return "customer" if kind in CUSTOMER else "agent" if kind == "admin" else "bot"


def _labels(item: Doc) -> dict[str, Any]:
    team = item.get("team_assignee_id")
    source = item.get("source") or {}
    return {"channel": CHANNEL.get(str(source.get("type") or ""), "chat"),
            "queue": f"team-{team}" if team else "",
            "priority": "high" if item.get("priority") == "priority" else "normal"}


def parts(item: Doc, key: str) -> list[Doc]:
    """Comments are messages; a close ends the chat; notes, assignments, opens and
    snoozes are not conversation."""
    out = []
    for part in (item.get("conversation_parts") or {}).get("conversation_parts") or []:
        kind = part.get("part_type")
        at = iso(part.get("created_at"), "conversation part")
        pid = need(part, "id", "conversation part")
        if kind == "comment":
            actor = _actor(part.get("author"))
            author_id = (part.get("author") or {}).get("id")
            out.append(event(NAME, f"{key}:part:{pid}", "chat.message", key, at, actor=actor,
                             agent_id=str(author_id) if actor == "agent" and author_id
                             else None))
        elif kind == "close":
            out.append(event(NAME, f"{key}:part:{pid}", "chat.ended", key, at))
    return out


def opened(item: Doc, key: str) -> list[Doc]:
    """A customer's conversation starts and waits for a teammate at once; its opening
    message is the customer's first."""
    at = iso(item.get("created_at"), "conversation")
    source = item.get("source") or {}
    out = [event(NAME, f"{key}:created", "chat.started", key, at, **_labels(item))]
    if _actor(source.get("author")) == "customer":
        out += [event(NAME, f"{key}:queued", "chat.handoff", key, at),
                event(NAME, f"{key}:source", "chat.message", key, at, actor="customer")]
    return out


def rating(item: Doc, key: str) -> list[Doc]:
    given = item.get("conversation_rating") or {}
    if given.get("rating") is None:
        return []
    return [event(NAME, f"{key}:rating", "survey.csat", key,
                  iso(given.get("created_at"), "rating"), score=given["rating"])]


TOPICS = {"conversation.user.created", "conversation.admin.single.created",
          "conversation.user.replied", "conversation.admin.replied",
          "conversation.admin.closed", "conversation.rating.added"}


def normalize(doc: Doc) -> list[Doc]:
    if doc.get("type") != "notification_event":
        raise ConnectorError("unknown_payload", f"not an Intercom notification: type "
                                                f"{doc.get('type')!r}")
    topic = str(doc.get("topic") or "")
    if topic not in TOPICS:
        return []  # assignments, notes, snoozes, tags, contacts: nothing a KPI needs
    item = _item(doc)
    key = f"{doc.get('app_id', '0')}:{need(item, 'id', 'conversation')}"
    if topic.endswith(".created"):
        return opened(item, key) + parts(item, key)
    if topic == "conversation.rating.added":
        return rating(item, key)
    return parts(item, key)


VENDOR = Vendor(NAME, normalize, conversation_of, signatures.intercom,
                "X-Hub-Signature: sha1=HMAC-SHA1(client secret, body)", topic="chats")
