"""Freshdesk's API v2 history (tickets, their conversations, satisfaction ratings) →
schema v1, for ``support-kpi import freshdesk``.

Freshdesk has no event log, so the history is read from what its API keeps
(https://developers.freshdesk.com/api/):

- a ticket (``GET /api/v2/tickets?include=stats`` or ``/tickets/[id]?include=
  conversations,stats``): created at ``created_at`` with its ``source``, ``priority`` and
  ``group_id``; its description is the customer's first message; ``stats.resolved_at``
  and ``stats.closed_at`` end it; a ticket still pending waits from ``stats.pending_since``;
- a conversation (``GET /api/v2/tickets/[id]/conversations``, or embedded as the
  ticket's ``conversations``): ``incoming`` is the customer's, otherwise an agent's reply
  or public note (Freshdesk counts both as responses); a private note is not conversation;
- a satisfaction rating (``GET /api/v2/surveys/satisfaction_ratings``): the
  ``default_question`` answer on Freshdesk's scale (103 … -103) as a 1–5 CSAT score;
- groups (``GET /api/v2/groups``): the queues' names, as the webhooks' rules name them.

The API keeps only a ticket's latest resolve and reopen: a reopened ticket (``stats.
reopened_at``) is reopened then, and its first resolve, which the API no longer has, is
taken at that moment (the latest it can have been), so its resolution time is an upper
bound and its reopen counts. Ids are the webhooks' (the ticket, what happened and its
second: Freshdesk gives a reply no id on the webhook), so history imported over live
webhooks counts once. A ticket's ``requester_id`` is the customer (schema v1.2's
``customer_id``) of every event its record gives (creation, description, ends, waiting,
the conversations it embeds); a conversation or rating record on its own names no
requester, so its event has none (the worker takes a conversation's customer from its
earliest event carrying one: the ticket's creation).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from connectors.base import (
    Context,
    Doc,
    Imported,
    customer,
    event,
    iso,
    items,
    map_whole,
    need,
    with_customer,
)
from connectors.errors import ConnectorError
from connectors.freshdesk import NAME, created, labels, reply, status_events

OUTBOUND = 10  # an outbound email: the agent wrote first, no customer message opens it
# Freshdesk's answer values (3-, 5- and 7-point scales share them) → a 1–5 score
RATING = {103: 5, 102: 4, 101: 4, 100: 3, -101: 2, -102: 2, -103: 1}
WAITING = (3, 6, 7)  # pending and the "waiting on" statuses


def _ticket(t: Doc, ctx: Context, out: Imported) -> None:
    start = len(out.events)
    _ticket_events(t, ctx, out)
    out.events[start:] = with_customer(out.events[start:], customer(t.get("requester_id")))


def _ticket_events(t: Doc, ctx: Context, out: Imported) -> None:
    key = ctx.key(need(t, "id", "ticket"))
    at = iso(t.get("created_at"), "ticket")
    out.events += created(key, at, labels(t, ctx, prefix=""),
                          description=t.get("source") != OUTBOUND)
    stats = t.get("stats") or {}
    if stats.get("reopened_at"):
        when = iso(stats["reopened_at"], "stats.reopened_at")
        # the first resolve is gone from the API: it was at the reopen at the latest
        out.events += status_events(4, key, when) + status_events(2, key, when, previous=4)
        out.approximate("first resolve of a reopened ticket (at its reopen: the API keeps "
                        "only the latest resolve)")
    for field, status in (("resolved_at", 4), ("closed_at", 5)):
        if stats.get(field):
            when = iso(stats[field], f"stats.{field}")
            out.events += status_events(status, key, when)
    if t.get("status") in WAITING and stats.get("pending_since"):
        when = iso(stats["pending_since"], "stats.pending_since")
        out.events += status_events(t["status"], key, when)
    for c in t.get("conversations") or []:
        _conversation({**c, "ticket_id": c.get("ticket_id", t["id"])}, ctx, out)


def _conversation(c: Doc, ctx: Context, out: Imported) -> None:
    key = ctx.key(need(c, "ticket_id", "conversation"))
    need(c, "id", "conversation")
    if c.get("private"):
        out.skip("private_note")
        return
    out.events.append(reply(key, iso(c.get("created_at"), "conversation"),
                            customer=bool(c.get("incoming")), agent=c.get("user_id")))


def _rating(r: Doc, ctx: Context, out: Imported) -> None:
    key = ctx.key(need(r, "ticket_id", "satisfaction rating"))
    answer: Any = (r.get("ratings") or {}).get("default_question")
    if answer not in RATING:
        out.skip("rating without a default_question answer")
        return
    out.events.append(event(NAME, f"{key}:rating:{need(r, 'id', 'satisfaction rating')}",
                            "survey.csat", key, iso(r.get("created_at"), "rating"),
                            score=RATING[answer]))


def _kind(doc: Doc) -> str:
    if "ratings" in doc:
        return "rating"
    if "incoming" in doc or ("body_text" in doc and "ticket_id" in doc):
        return "conversation"
    if "requester_id" in doc or "stats" in doc or {"status", "created_at"} <= doc.keys():
        return "ticket"
    if {"id", "name"} <= doc.keys() and ("agent_ids" in doc or "unassigned_for" in doc
                                         or "description" in doc):
        return "group"
    raise ConnectorError("unknown_payload", "neither a Freshdesk ticket, conversation, "
                                            "satisfaction rating nor group")


MAPPERS = {"ticket": _ticket, "conversation": _conversation, "rating": _rating}
UNNAMED = ("tickets whose group has no name (group-<id>) where the webhooks' rules name it "
           "(ticket_group_name): add the groups export, GET /api/v2/groups, or SUPPORT_QUEUES")


def normalize_export(docs: Iterable[Any], ctx: Context) -> Imported:
    """Every ticket, conversation and rating of the files (JSON arrays as the API
    returns them, search pages under ``results``, or one record per line); the groups
    among them name the queues."""
    records = list(items(docs, "results"))
    kinds = []
    for doc in records:
        try:
            kinds.append(_kind(doc))
        except ConnectorError:
            kinds.append("other")
    names = {f"group:{d['id']}": str(d["name"])
             for d, k in zip(records, kinds, strict=True) if k == "group"}
    ctx = replace(ctx, queues={**names, **ctx.queues})
    out = map_whole((d for d, k in zip(records, kinds, strict=True) if k != "group"),
                    lambda doc, one: MAPPERS[_kind(doc)](doc, ctx, one))
    unnamed = sum(1 for d, k in zip(records, kinds, strict=True) if k == "ticket"
                  and d.get("group_id") and f"group:{d['group_id']}" not in ctx.queues)
    if unnamed:
        out.skipped[UNNAMED] = unnamed
    if names:
        out.skip(f"group records (named {len(names)} queues)")
    return out
