"""Intercom conversation webhooks (notification_event, ``conversation.*`` topics) → schema v1.

A notification (https://developers.intercom.com/docs/references/2.11/webhooks/webhook-models)
carries ``topic`` and the conversation as ``data.item``. Two models are in use, and both map:

* the current one (API 2.x): the opening message as ``source`` (its ``author``),
  ``team_assignee_id``, ``priority``, ``conversation_rating``;
* the older one, which apps on older API versions still receive: the opening message as
  ``conversation_message``, the customer as ``user``, ``assignee`` instead of the ids.

The new ``conversation_parts`` carry each part with its own id, so a part seen again in a
later notification (a reply-and-assign fires both ``conversation.admin.replied`` and
``conversation.admin.assigned`` with the same part) or in the export is one message. A
part with a body is a message whatever its type (an ``assignment`` written as a reply is
the teammate's first response); a bot's comment is the bot's, never a first response.

The customer (schema v1.2's ``customer_id``) of every event of a conversation is its
contact: ``contacts.contacts[0].id`` in the current model, the ``user`` (a user or lead)
in the older one, else the opening message's author when a user, lead or contact wrote it.
"""

from __future__ import annotations

from typing import Any

from connectors import signatures
from connectors.base import Context, Doc, Vendor, customer, event, iso, need, with_customer
from connectors.errors import ConnectorError

NAME = "intercom"
CUSTOMER = ("user", "lead", "contact")
# parts with a body that are not written to the customer
NOT_MESSAGES = ("note", "note_and_reopen", "close")
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
    return str(cid) if cid else None


def _actor(author: Any) -> str:
    kind = (author or {}).get("type") if isinstance(author, dict) else None
    return "customer" if kind in CUSTOMER else "agent" if kind == "admin" else "bot"


def _dict(value: Any) -> Doc:
    return value if isinstance(value, dict) else {}


def customer_of(item: Doc) -> str | None:
    """The conversation's contact, as the model at hand names it (never an admin or bot:
    an outbound conversation's opening author is the teammate)."""
    listed = _dict(item.get("contacts")).get("contacts")
    first = _dict(listed[0]) if isinstance(listed, list) and listed else {}
    user = _dict(item.get("user"))
    author = _dict(_dict(item.get("source") or item.get("conversation_message")).get("author"))
    return customer(first.get("id"),
                    user.get("id") if user.get("type") in CUSTOMER else None,
                    author.get("id") if author.get("type") in CUSTOMER else None)


def conversation(item: Doc, key: str, ctx: Context, topic: str | None = None) -> list[Doc]:
    """The events of a conversation as a notification of ``topic`` gives them, or all of
    them (the export: no topic), each with the conversation's customer."""
    if topic is None:
        events = opened(item, key, ctx) + parts(item, key) + rating(item, key)
    elif topic == "conversation.rating.added":
        events = rating(item, key)
    else:
        events = (opened(item, key, ctx) if topic.endswith(".created") else []) + \
            parts(item, key)
    return with_customer(events, customer_of(item))


def _labels(item: Doc, ctx: Context) -> dict[str, Any]:
    source = item.get("source") or item.get("conversation_message") or {}
    kind = str(source.get("type") or "")
    return {"channel": CHANNEL.get(kind, "chat"),
            "queue": ctx.queue("team", item.get("team_assignee_id")),
            "priority": "high" if item.get("priority") == "priority" else "normal"}


def parts(item: Doc, key: str) -> list[Doc]:
    """Comments are messages, and so is any other part written to the customer (an
    assignment with a body: a reply-and-assign); a close ends the chat; notes, bare
    assignments, opens and snoozes are not conversation."""
    out = []
    for part in (item.get("conversation_parts") or {}).get("conversation_parts") or []:
        kind = part.get("part_type")
        at = iso(part.get("created_at"), "conversation part")
        pid = need(part, "id", "conversation part")
        if kind == "comment" or (kind not in NOT_MESSAGES and part.get("body")):
            actor = _actor(part.get("author"))
            author_id = (part.get("author") or {}).get("id")
            out.append(event(NAME, f"{key}:part:{pid}", "chat.message", key, at, actor=actor,
                             agent_id=str(author_id) if actor == "agent" and author_id
                             else None))
        elif kind == "close":
            out.append(event(NAME, f"{key}:part:{pid}", "chat.ended", key, at))
    return out


def opened(item: Doc, key: str, ctx: Context) -> list[Doc]:
    """A customer's conversation starts and waits for a teammate at once; its opening
    message (``source``, or ``conversation_message`` in the older model) is the customer's
    first."""
    at = iso(item.get("created_at"), "conversation")
    source = item.get("source") or item.get("conversation_message") or {}
    out = [event(NAME, f"{key}:created", "chat.started", key, at, **_labels(item, ctx))]
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
          "conversation.operator.replied", "conversation.admin.assigned",
          "conversation.admin.closed", "conversation.rating.added"}


def normalize(doc: Doc, ctx: Context) -> list[Doc]:
    if doc.get("type") != "notification_event":
        raise ConnectorError("unknown_payload", f"not an Intercom notification: type "
                                                f"{doc.get('type')!r}")
    topic = str(doc.get("topic") or "")
    if topic not in TOPICS:
        return []  # notes, snoozes, tags, contacts: nothing a KPI needs
    ctx.check_account(doc.get("app_id"), "the Intercom notification")
    item = _item(doc)
    return conversation(item, ctx.key(need(item, "id", "conversation")), ctx, topic)


VENDOR = Vendor(NAME, normalize, conversation_of, signatures.intercom,
                "X-Hub-Signature: sha1=HMAC-SHA1(client secret, body)", topic="chats")
