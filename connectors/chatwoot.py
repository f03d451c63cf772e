"""Chatwoot (open source) account webhooks → schema v1.

What Chatwoot really sends (its ``WebhookListener`` and ``EventDataPresenter``; captures in
tests/fixtures/connectors/real/chatwoot): ``conversation_created`` /
``conversation_status_changed`` / ``conversation_updated`` post the conversation itself at
the top level, with **no account** (``messages[0].account_id`` at most) and no inbox name
(``inbox_id`` only); ``message_created`` / ``message_updated`` post the message, with
``conversation``, ``inbox {id, name}``, ``account {id, name}`` and ``sender``. A
conversation's ``id`` is the number agents see (the display id) in both.

So a conversation is ``chatwoot:<id>`` (``chatwoot:<account>:<id>`` with
``SUPPORT_CHATWOOT_ACCOUNT``), never built from an account only some payloads carry, and
its queue is its inbox by id (``inbox-<id>``, or the name ``SUPPORT_QUEUES`` gives it) on
every payload and in ``import``. An email inbox makes it a ticket, every other inbox a chat.

The customer (schema v1.2's ``customer_id``) is the conversation's contact, by Chatwoot's
contact id: ``meta.sender`` of the conversation (the contact in conversation payloads and
the API), else ``contact_inbox.contact_id``, else a message's own sender when a contact
sent it (``sender_type`` ``Contact``, ``sender.type`` ``contact``, or an incoming message,
whose sender is the contact without a type).

Agent events (schema v1.3; docs/connectors.md#agent-events): Chatwoot's webhooks carry no
presence (an agent's ``availability_status`` changes reach the dashboard over ActionCable,
never a webhook; the one on a conversation's ``meta.assignee`` is a snapshot, not a
change), so only contacts map. A ``conversation_updated`` whose ``changed_attributes``
holds ``assignee_id`` ends the previous assignee's contact and starts the new one's, at the
``updated_at`` change (else the payload's ``updated_at``); a resolution
(``conversation_status_changed`` to ``resolved``) ends the assignee's contact
(``meta.assignee`` of type user). Chatwoot has no wrap-up: it ends with the contact.
"""

from __future__ import annotations

from typing import Any

from connectors import signatures
from connectors.base import (
    Context,
    Doc,
    Vendor,
    contact_done,
    contact_started,
    customer,
    event,
    iso,
    need,
    seconds,
    with_customer,
)
from connectors.errors import ConnectorError

NAME = "chatwoot"
# Chatwoot priorities → the schema's; Chatwoot's "medium" is the default "normal"
PRIORITY = {"low": "low", "medium": "normal", "high": "high", "urgent": "urgent"}
ACTIVITY = ("activity", 2)  # system notes ("Conversation was resolved by ...")
INCOMING = ("incoming", 0)


def _channel(conversation: Doc) -> str:
    """``Channel::WebWidget`` → chat, ``Channel::Email`` → email, else the channel's name."""
    name = str(conversation.get("channel") or "").removeprefix("Channel::").lower()
    return {"webwidget": "chat", "": "chat"}.get(name, name)


def _id(conversation: Doc) -> Any:
    cid = conversation.get("display_id", conversation.get("id"))
    if cid is None:
        raise ConnectorError("missing_field", "conversation has no id")
    return cid


def _account(doc: Doc, conversation: Doc) -> Any:
    """The account a payload names, where it names one (message payloads do; conversation
    payloads only through a message they hold)."""
    acc = doc.get("account")
    if isinstance(acc, dict) and acc.get("id") is not None:
        return acc["id"]
    for source in (conversation, doc):
        if source.get("account_id") is not None:
            return source["account_id"]
    messages = conversation.get("messages") or []
    return messages[0].get("account_id") if messages and isinstance(messages[0], dict) \
        else None


def key_of(doc: Doc, conversation: Doc, ctx: Context) -> str:
    ctx.check_account(_account(doc, conversation), "the Chatwoot payload")
    return ctx.key(_id(conversation))


def labels(conversation: Doc, ctx: Context, inbox: Any = None) -> dict[str, str]:
    meta = conversation.get("meta") or {}
    team = meta.get("team") or conversation.get("team") or {}
    box = inbox if isinstance(inbox, dict) else {}
    inbox_id = conversation.get("inbox_id", box.get("id"))
    return {"channel": _channel(conversation),
            "queue": ctx.queue("inbox", inbox_id, box.get("name")),
            "team": team.get("name", "") if isinstance(team, dict) else "",
            "priority": PRIORITY.get(str(conversation.get("priority") or ""), "")}


def _dict(value: Any) -> Doc:
    return value if isinstance(value, dict) else {}


def customer_of(conversation: Doc, message: Doc | None = None) -> str | None:
    """The conversation's contact id; a message's sender when it is the contact."""
    contact = _dict(_dict(conversation.get("meta")).get("sender"))
    contact_id = contact.get("id") if str(contact.get("type") or "contact").lower() == \
        "contact" else None
    inbox = _dict(conversation.get("contact_inbox"))
    by = None
    if message is not None:
        sender = _dict(message.get("sender"))
        kind = str(sender.get("type") or message.get("sender_type") or "").lower()
        if kind == "contact" or (not kind and message.get("message_type") in INCOMING):
            by = sender.get("id") or message.get("sender_id")
    return customer(contact_id, inbox.get("contact_id"), by)


def _kind(conversation: Doc) -> str:
    return "ticket" if _channel(conversation) == "email" else "chat"


def conversation_of(doc: Doc) -> str | None:
    conversation = doc.get("conversation") if "conversation" in doc else doc
    if not isinstance(conversation, dict):
        return None
    cid = conversation.get("display_id", conversation.get("id"))
    return None if cid is None else str(cid)


def created(doc: Doc, ctx: Context) -> list[Doc]:
    """A ticket is created; a chat starts, and joins the human queue at once unless a bot
    has it (Chatwoot opens a bot's conversation as "pending")."""
    return with_customer(_created(doc, ctx), customer_of(doc))


def _created(doc: Doc, ctx: Context) -> list[Doc]:
    key = key_of(doc, doc, ctx)
    at = iso(doc.get("created_at") or doc.get("timestamp"), "conversation")
    if _kind(doc) == "ticket":
        return [event(NAME, f"{key}:created", "ticket.created", key, at, **labels(doc, ctx))]
    out = [event(NAME, f"{key}:created", "chat.started", key, at, **labels(doc, ctx))]
    if doc.get("status", "open") == "open":
        out.append(event(NAME, f"{key}:queued", "chat.handoff", key, at))
    return out


def status_changed(doc: Doc, ctx: Context, at: str | None = None) -> list[Doc]:
    """Resolved ends it; pending → open is the bot handing a chat to a human (Chatwoot's
    "pending" is a bot's conversation); open after resolved reopens a ticket; pending
    and snoozed on a ticket are the schema's pending and on_hold. The event id names the
    status and the second it changed, which the import finds in the activity messages."""
    return with_customer(_status_changed(doc, ctx, at), customer_of(doc))


def _status_changed(doc: Doc, ctx: Context, at: str | None) -> list[Doc]:
    key = key_of(doc, doc, ctx)
    kind, status = _kind(doc), str(need(doc, "status", "conversation"))
    previous = _previous_status(doc)
    at = at or iso(doc.get("updated_at") or doc.get("timestamp"), "status change")
    eid = f"{key}:status:{status}:{seconds(at)}"
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
    """``changed_attributes`` is a list of one-key objects: ``[{"status": {"previous_value":
    …, "current_value": …}}, …]``."""
    change = _changed(doc, "status")
    return None if change is None else change.get("previous_value")


def _changed(doc: Doc, attribute: str) -> Doc | None:
    """``{"previous_value", "current_value"}`` of one attribute in ``changed_attributes``
    (Chatwoot's ``BaseListener#extract_changed_attributes``), None when it did not change."""
    changes = doc.get("changed_attributes")
    for change in changes if isinstance(changes, list) else []:
        if isinstance(change, dict) and isinstance(change.get(attribute), dict):
            return change[attribute]
    return None


def _user(value: Any) -> str | None:
    """A user's (an agent's) id: an ``assignee_id`` value, or an assignee record of type
    user (an agent bot is no agent)."""
    if isinstance(value, dict):
        if str(value.get("type") or "user").lower() != "user":
            return None
        value = value.get("id")
    if isinstance(value, bool) or value in (None, "", 0, "0"):
        return None
    return str(value)


def assignment(doc: Doc, ctx: Context) -> list[Doc]:
    """A ``conversation_updated`` whose ``assignee_id`` changed: the previous assignee's
    contact ends (with its wrap-up: Chatwoot has none), the new one's starts, at the
    moment of the change (``changed_attributes`` ``updated_at``, else ``updated_at``).
    Any other update (labels, team, priority, custom attributes) has no agent event."""
    change = _changed(doc, "assignee_id")
    if change is None:
        return []
    key = key_of(doc, doc, ctx)
    when = _changed(doc, "updated_at") or {}
    at = iso(when.get("current_value") or doc.get("updated_at"), "assignee change")
    before, after = _user(change.get("previous_value")), _user(change.get("current_value"))
    out: list[Doc] = []
    if before is not None:
        out += contact_done(NAME, f"{key}:assignee:{before}:{seconds(at)}", before, key, at)
    if after is not None:
        dims = labels(doc, ctx)
        out.append(contact_started(NAME, f"{key}:assignee:{after}:{seconds(at)}", after, key,
                                   at, dims["channel"], dims["queue"]))
    return out


def status_webhook(doc: Doc, ctx: Context) -> list[Doc]:
    """A ``conversation_status_changed``: its conversation events, and when resolved the
    end of the assignee's contact (``meta.assignee``, of type user) at the same moment."""
    out = status_changed(doc, ctx)
    assignee = _user(_dict(doc.get("meta")).get("assignee"))
    if assignee is None or str(doc.get("status")) != "resolved":
        return out
    key = key_of(doc, doc, ctx)
    at = iso(doc.get("updated_at") or doc.get("timestamp"), "status change")
    return out + contact_done(NAME, f"{key}:status:resolved:{seconds(at)}:agent:{assignee}",
                              assignee, key, at)


def actor_of(message: Doc) -> str:
    """Incoming is the customer; outgoing a teammate's (sender type ``user``) is an agent,
    an agent bot's, a template's or a campaign's (no user) the bot."""
    if message.get("message_type") in INCOMING:
        return "customer"
    sender = message.get("sender")
    kind = str((sender.get("type") if isinstance(sender, dict) else None)
               or message.get("sender_type") or "").lower()
    return "agent" if kind == "user" else "bot"


def _csat(doc: Doc, key: str, mid: Any) -> list[Doc]:
    rating = (((doc.get("content_attributes") or {}).get("submitted_values") or {})
              .get("csat_survey_response") or {}).get("rating")
    if rating is None:
        return []
    return [event(NAME, f"{key}:csat:{mid}", "survey.csat", key,
                  iso(doc.get("updated_at") or doc.get("created_at"), "survey"), score=rating)]


def message(doc: Doc, ctx: Context) -> list[Doc]:
    """A message of the conversation, as its webhook posts it: private notes and activity
    messages are not conversation; a submitted CSAT survey (``message_updated`` of an
    ``input_csat`` message) is the rating."""
    conversation = doc.get("conversation") or {}
    key = key_of(doc, conversation, ctx)
    mid = need(doc, "id", "message")
    if doc.get("content_type") == "input_csat":
        return with_customer(_csat(doc, key, mid), customer_of(conversation, doc))
    if doc.get("event") == "message_updated" or doc.get("private") or \
            doc.get("message_type") in ACTIVITY:
        return []
    actor = actor_of(doc)
    sender = doc.get("sender")
    agent = (sender.get("id") if isinstance(sender, dict) else None) or doc.get("sender_id")
    return [event(NAME, f"{key}:message:{mid}", f"{_kind(conversation)}.message", key,
                  iso(doc.get("created_at"), "message"), actor=actor,
                  agent_id=str(agent) if actor == "agent" and agent else None,
                  customer_id=customer_of(conversation, doc),
                  **labels(conversation, ctx, doc.get("inbox")))]


HANDLERS = {"conversation_created": created, "conversation_status_changed": status_webhook,
            "conversation_updated": assignment, "message_created": message,
            "message_updated": message}
# sent by Chatwoot, nothing a KPI needs
SKIPPED = frozenset({"contact_created", "contact_updated", "webwidget_triggered",
                     "conversation_typing_on", "conversation_typing_off"})


def normalize(doc: Doc, ctx: Context) -> list[Doc]:
    name = doc.get("event")
    if name in SKIPPED:
        return []
    if name not in HANDLERS:
        raise ConnectorError("unknown_payload", f"not a Chatwoot webhook event: {name!r}")
    return HANDLERS[str(name)](doc, ctx)


VENDOR = Vendor(NAME, normalize, conversation_of, signatures.chatwoot,
                "X-Chatwoot-Signature: sha256=HMAC-SHA256(secret, timestamp + '.' + body)",
                topic="chats")
