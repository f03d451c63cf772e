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
  ``default_question`` answer on Freshdesk's scale (103 … -103) as a 1–5 CSAT score.

The API keeps only the latest resolve and reopen of a ticket, so a reopened ticket's
earlier resolve is lost: its reopen is skipped and counted as such.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors.base import Doc, Imported, event, iso, items, map_whole, need
from connectors.errors import ConnectorError
from connectors.freshdesk import NAME, labels, status_events

OUTBOUND = 10  # an outbound email: the agent wrote first, no customer message opens it
# Freshdesk's answer values (3-, 5- and 7-point scales share them) → a 1–5 score
RATING = {103: 5, 102: 4, 101: 4, 100: 3, -101: 2, -102: 2, -103: 1}
WAITING = (3, 6, 7)  # pending and the "waiting on" statuses


def _ticket(t: Doc, account: str, out: Imported) -> None:
    key = f"{account}:{need(t, 'id', 'ticket')}"
    at = iso(t.get("created_at"), "ticket")
    out.events.append(event(NAME, f"{key}:created", "ticket.created", key, at,
                            **labels(t, prefix="")))
    if t.get("source") != OUTBOUND:
        out.events.append(event(NAME, f"{key}:description", "ticket.message", key, at,
                                actor="customer"))
    stats = t.get("stats") or {}
    for field, status in (("resolved_at", 4), ("closed_at", 5)):
        if stats.get(field):
            when = iso(stats[field], f"stats.{field}")
            out.events += status_events(status, f"{key}:{field}:{when}", key, when)
    if t.get("status") in WAITING and stats.get("pending_since"):
        when = iso(stats["pending_since"], "stats.pending_since")
        out.events += status_events(t["status"], f"{key}:pending_since:{when}", key, when)
    if stats.get("reopened_at"):
        out.skip("reopened_at (the API keeps no earlier resolve)")
    for c in t.get("conversations") or []:
        _conversation({**c, "ticket_id": c.get("ticket_id", t["id"])}, account, out)


def _conversation(c: Doc, account: str, out: Imported) -> None:
    key = f"{account}:{need(c, 'ticket_id', 'conversation')}"
    cid = need(c, "id", "conversation")
    if c.get("private"):
        out.skip("private_note")
        return
    at = iso(c.get("created_at"), "conversation")
    incoming = bool(c.get("incoming"))
    out.events.append(event(NAME, f"{key}:conversation:{cid}", "ticket.message", key, at,
                            actor="customer" if incoming else "agent",
                            agent_id=None if incoming or c.get("user_id") is None
                            else str(c["user_id"])))


def _rating(r: Doc, account: str, out: Imported) -> None:
    key = f"{account}:{need(r, 'ticket_id', 'satisfaction rating')}"
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
    raise ConnectorError("unknown_payload", "neither a Freshdesk ticket, conversation nor "
                                            "satisfaction rating")


MAPPERS = {"ticket": _ticket, "conversation": _conversation, "rating": _rating}


def normalize_export(docs: Iterable[Any], account: str = "0") -> Imported:
    """Every ticket, conversation and rating of the files (JSON arrays as the API
    returns them, search pages under ``results``, or one record per line)."""
    return map_whole(items(docs, "results"),
                     lambda doc, one: MAPPERS[_kind(doc)](doc, account, one))
