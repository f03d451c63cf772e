"""Chatwoot's API history (conversations with their messages) → schema v1, for
``support-kpi import chatwoot``.

Chatwoot has no export of its event log, but its Application API keeps every message
(https://www.chatwoot.com/developers/api/): a conversation (``GET /api/v1/accounts/
{account_id}/conversations/{id}``, or the pages of ``GET …/conversations`` under
``data.payload``) with its messages (``GET …/conversations/{id}/messages``, the page's
``payload``) put in its ``messages``. Messages map as their webhooks do and keep the webhooks'
ids, so history imported up to the switch-on and live webhooks do not double count.
Status changes are Chatwoot's activity messages: the activity's ``status`` where the
message carries it, else its English text ("Conversation was marked resolved by …",
"… reopened …", "… pending …", "… snoozed …").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors import chatwoot
from connectors.base import Doc, Imported, items, map_whole, need

# activity text → status, first match wins ("reopened" before "open" in other words)
WORDS = (("resolved", "resolved"), ("reopened", "open"), ("pending", "pending"),
         ("snoozed", "snoozed"))


def _activity_status(message: Doc) -> str | None:
    activity = (message.get("content_attributes") or {}).get("activity")
    if isinstance(activity, dict) and activity.get("status"):
        return str(activity["status"])
    text = str(message.get("content") or "").lower()
    if not text.startswith("conversation"):
        return None  # assignments, labels, team changes
    return next((status for word, status in WORDS if word in text), None)


def _messages(conversation: Doc, out: Imported) -> None:
    messages = sorted(conversation.get("messages") or [],
                      key=lambda m: (m.get("created_at") or 0, m.get("id") or 0))
    status = "open"
    for m in messages:
        if m.get("message_type") in chatwoot.ACTIVITY:
            new = _activity_status(m)
            if new is None:
                out.skip("activity (not a status)")
                continue
            change = {**conversation, "status": new, "updated_at": m.get("created_at"),
                      "changed_attributes": [{"status": {"previous_value": status}}]}
            out.events += chatwoot.normalize({"event": "conversation_status_changed",
                                              **change})
            status = new
        elif m.get("private"):
            out.skip("private_note")
        else:
            sender = m.get("sender") or {}
            kind = str(sender.get("type") or m.get("sender_type") or "").lower()
            out.events += chatwoot.normalize({
                **m, "event": "message_created", "conversation": conversation,
                "sender": {**sender, "type": "user" if kind == "user" else kind}})


def _conversation(doc: Doc, account: str, out: Imported) -> None:
    need(doc, "id", "conversation")
    meta = doc.get("meta") or {}
    # the API puts the inbox's channel under meta, the webhooks at the top
    conversation = {**doc, "account_id": doc.get("account_id", account),
                    "channel": doc.get("channel") or meta.get("channel")}
    # a conversation's first status is not kept: it opened for a human (a bot's inbox
    # would have opened it pending, and its handoff is then not in the history)
    out.events += chatwoot.normalize({"event": "conversation_created", **conversation,
                                      "status": "open"})
    _messages(conversation, out)


def normalize_export(docs: Iterable[Any], account: str = "0") -> Imported:
    """Every conversation of the files, each with its messages."""
    return map_whole(items(docs, "data.payload"),
                     lambda doc, one: _conversation(doc, account, one))
