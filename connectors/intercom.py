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

Agent events (schema v1.3; docs/connectors.md#agent-events), from the webhooks only (the
export has no presence and keeps no assignment history worth replaying):

* ``admin.away_mode_updated`` / ``admin.logged_in``: the admin's status, ``away`` with
  away mode on, else ``available``; ``admin.logged_out``: ``offline``; the admin's
  ``team_ids`` are the queues it serves (``team-<id>``, as a conversation's team);
* a conversation part assigning the conversation to an admin (``assigned_to`` an admin:
  an assignment, a reply-and-assign, an assign-and-reopen, in any conversation topic) starts
  that admin's contact at the part's time;
* a ``close`` part ends the contact of the conversation's admin assignee, of its listed
  teammates and of the admin who closed it; Intercom has no wrap-up, so the wrap-up ends at
  the same moment.
"""

from __future__ import annotations

from typing import Any

from connectors import signatures
from connectors.base import (
    Context,
    Doc,
    Vendor,
    agent_id,
    contact_done,
    contact_started,
    customer,
    event,
    iso,
    need,
    seconds,
    status_changed,
    with_customer,
)
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
    """The conversation of a conversation notification; an admin notification's admin
    (``admin:<id>``), so one admin's statuses stay in order too."""
    try:
        item = _item(doc)
    except ConnectorError:
        return None
    cid = item.get("id")
    if not cid:
        return None
    return f"admin:{cid}" if item.get("type") == "admin" else str(cid)


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


def _admin(value: Any) -> str | None:
    """An admin's id from ``{"type": "admin", "id": …}`` (a nobody_admin, a team or a bot
    is no agent), or from a bare id (``admin_assignee_id``; ``"0"`` or null: nobody)."""
    if isinstance(value, dict):
        if value.get("type") != "admin":
            return None
        value = value.get("id")
    if isinstance(value, bool) or value in (None, "", 0, "0"):
        return None
    return str(value)


def _ended_by(item: Doc, part: Doc) -> list[str]:
    """The admins whose contact a close ends: the admin assignee (``admin_assignee_id``,
    or the older model's ``assignee``), the teammates listed on the conversation and the
    admin who closed it. An end of a contact an admin does not have is ignored by the
    worker, so naming one too many costs nothing; one too few leaves a contact open."""
    listed = _dict(item.get("teammates")).get("admins")
    candidates = [item.get("admin_assignee_id"), item.get("assignee"),
                  *(listed if isinstance(listed, list) else []), part.get("author")]
    return list(dict.fromkeys(a for a in map(_admin, candidates) if a))


def agent_parts(item: Doc, key: str, ctx: Context) -> list[Doc]:
    """The agent events of a conversation notification's parts: an assignment to an admin
    starts the admin's contact, a close ends it (and its wrap-up: Intercom has none). The
    ids are the part's, so a part delivered again under another topic (reply-and-assign
    fires ``conversation.admin.replied`` and ``conversation.admin.assigned``) is one."""
    labels = _labels(item, ctx)
    out: list[Doc] = []
    for part in (_dict(item.get("conversation_parts")).get("conversation_parts") or []):
        if not isinstance(part, dict):
            continue
        assignee = _admin(part.get("assigned_to"))
        closed = part.get("part_type") == "close"
        if assignee is None and not closed:
            continue
        pid = need(part, "id", "conversation part")
        at = iso(part.get("created_at"), "conversation part")
        if assignee is not None:
            out.append(contact_started(NAME, f"{key}:part:{pid}:agent:{assignee}", assignee,
                                       key, at, labels["channel"], labels["queue"]))
        if closed:
            for admin in _ended_by(item, part):
                out += contact_done(NAME, f"{key}:part:{pid}:agent:{admin}", admin, key, at)
    return out


def admin_status(doc: Doc, ctx: Context, topic: str) -> list[Doc]:
    """An admin notification (``data.item`` is the admin) as the admin's status from its
    time on: logged out is offline; logged in or away mode changed is away with away mode
    on (``away_mode_reassign`` only says where new conversations go meanwhile), else
    available. The notification's ``created_at`` is when it happened (the admin model has
    no time of its own)."""
    item = _item(doc)
    admin = agent_id(item.get("id"), f"{topic} (data.item.id)")
    at = iso(doc.get("created_at"), topic)
    if topic == "admin.logged_out":
        status = "offline"
    else:
        away = item.get("away_mode_enabled")
        if not isinstance(away, bool):
            raise ConnectorError("missing_field", f"{topic} has no data.item."
                                                  "away_mode_enabled")
        status = "away" if away else "available"
    teams = item.get("team_ids")
    queues = [ctx.queue("team", t) for t in teams] if isinstance(teams, list) else None
    return [status_changed(NAME, f"{ctx.key('agent')}:{admin}:status:{status}:{seconds(at)}",
                           admin, at, status, queues=queues)]


TOPICS = {"conversation.user.created", "conversation.admin.single.created",
          "conversation.user.replied", "conversation.admin.replied",
          "conversation.operator.replied", "conversation.admin.assigned",
          "conversation.admin.open.assigned", "conversation.admin.opened",
          "conversation.admin.closed", "conversation.rating.added"}
# the admin's presence (agent.status_changed)
ADMIN_TOPICS = {"admin.away_mode_updated", "admin.logged_in", "admin.logged_out"}


def normalize(doc: Doc, ctx: Context) -> list[Doc]:
    if doc.get("type") != "notification_event":
        raise ConnectorError("unknown_payload", f"not an Intercom notification: type "
                                                f"{doc.get('type')!r}")
    topic = str(doc.get("topic") or "")
    if topic not in TOPICS and topic not in ADMIN_TOPICS:
        return []  # notes, snoozes, tags, contacts: nothing a KPI needs
    ctx.check_account(doc.get("app_id"), "the Intercom notification")
    if topic in ADMIN_TOPICS:
        return admin_status(doc, ctx, topic)
    item = _item(doc)
    key = ctx.key(need(item, "id", "conversation"))
    return conversation(item, key, ctx, topic) + agent_parts(item, key, ctx)


VENDOR = Vendor(NAME, normalize, conversation_of, signatures.intercom,
                "X-Hub-Signature: sha1=HMAC-SHA1(client secret, body)", topic="chats")
