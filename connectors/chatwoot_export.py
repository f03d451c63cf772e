"""Chatwoot's API history (conversations with their messages) → schema v1, for
``support-kpi import chatwoot``.

Chatwoot has no export of its event log, but its Application API keeps every message
(https://www.chatwoot.com/developers/api/): a conversation (``GET /api/v1/accounts/
{account_id}/conversations/{id}``, or the pages of ``GET …/conversations`` under
``data.payload``) with its messages (``GET …/conversations/{id}/messages``, the page's
``payload``) put in its ``messages``. Messages map as their webhooks do, with the webhooks'
ids, and status changes are Chatwoot's activity messages, with the id the webhook's
status change gets (the status and the second): history imported over live webhooks counts
each event once. The inboxes (``GET …/inboxes``) among the files name the queues.

A bot's inbox opens a conversation as "pending"; the bot hands it to a human by opening it,
which Chatwoot records as "Conversation was reopened by <bot>". So a conversation whose
first status change opens it (no resolve before) started pending: it joins the human queue
at that activity, not at its creation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from connectors import chatwoot
from connectors.base import Context, Doc, Imported, iso, items, map_whole, need

# activity text → status, first match wins ("reopened" before "open" in other words)
WORDS = (("resolved", "resolved"), ("reopened", "open"), ("opened", "open"),
         ("pending", "pending"), ("snoozed", "snoozed"))


def _activity_status(message: Doc) -> str | None:
    activity = (message.get("content_attributes") or {}).get("activity")
    if isinstance(activity, dict) and activity.get("status"):
        return str(activity["status"])
    text = str(message.get("content") or "").lower()
    if "conversation" not in text:
        return None  # assignments, labels, team changes
    return next((status for word, status in WORDS if word in text), None)


def _initial_status(messages: list[Doc]) -> str:
    """"pending" when the first status change in the history opens the conversation (a
    bot's inbox handing over), else "open"."""
    for m in messages:
        if m.get("message_type") in chatwoot.ACTIVITY:
            status = _activity_status(m)
            if status is not None:
                return "pending" if status == "open" else "open"
    return "open"


def _messages(conversation: Doc, messages: list[Doc], status: str, ctx: Context,
              out: Imported) -> None:
    for m in messages:
        if m.get("message_type") in chatwoot.ACTIVITY:
            new = _activity_status(m)
            if new is None:
                out.skip("activity (not a status)")
                continue
            change = {**conversation, "status": new,
                      "changed_attributes": [{"status": {"previous_value": status}}]}
            out.events += chatwoot.status_changed(
                change, ctx, at=iso(m.get("created_at"), "activity message"))
            status = new
        elif m.get("private"):
            out.skip("private_note")
        else:
            out.events += chatwoot.message({**m, "event": "message_created",
                                            "conversation": conversation}, ctx)


def _conversation(doc: Doc, ctx: Context, out: Imported) -> None:
    need(doc, "id", "conversation")
    meta = doc.get("meta") or {}
    # the API puts the inbox's channel under meta, the webhooks at the top
    conversation = {**doc, "channel": doc.get("channel") or meta.get("channel")}
    messages = sorted(conversation.get("messages") or [],
                      key=lambda m: (m.get("created_at") or 0, m.get("id") or 0))
    status = _initial_status(messages)
    out.events += chatwoot.created({**conversation, "status": status}, ctx)
    _messages(conversation, messages, status, ctx, out)


def _is_inbox(doc: Doc) -> bool:
    return "channel_type" in doc and "messages" not in doc and "status" not in doc


def normalize_export(docs: Iterable[Any], ctx: Context) -> Imported:
    """Every conversation of the files, each with its messages; inbox records name the
    queues (``inbox-<id>`` otherwise, as on the webhook path)."""
    records = list(items(docs, "data.payload", "payload"))
    names = {f"inbox:{d['id']}": str(d["name"]) for d in records
             if _is_inbox(d) and d.get("id") is not None and d.get("name")}
    ctx = replace(ctx, queues={**names, **ctx.queues})
    out = map_whole((d for d in records if not _is_inbox(d)),
                    lambda doc, one: _conversation(doc, ctx, one))
    if names:
        out.skip(f"inbox records (named {len(names)} queues)")
    return out
