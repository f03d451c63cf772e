"""Zendesk's ticket history → schema v1, for ``support-kpi import zendesk``.

The files may hold any of (https://developer.zendesk.com/api-reference/ticketing/
ticket-management/incremental_exports/):

* ticket events (``GET /api/v2/incremental/ticket_events?include=comment_events``): one
  update at ``timestamp`` with its ``child_events`` (``Create`` children carry the new
  ticket's fields, ``Change`` children one field's new value and ``previous_value`` —
  ``status``, ``satisfaction_score`` — and ``Comment`` children the comment with
  ``author_id`` and ``public``);
* ticket audits (``GET /api/v2/tickets/{id}/audits``, ``…/ticket_audits``): the same
  update as ``events`` with ``type`` and ``field_name``/``value``;
* tickets (``GET /api/v2/incremental/tickets``): ``requester_id``, ``group_id``, ``via``
  and ``created_at`` of tickets created before the exported range;
* satisfaction ratings (``GET /api/v2/satisfaction_ratings``): good or bad;
* groups (``GET /api/v2/groups``): the queues' names.

A comment is the customer's when its author is the ticket's requester, an agent's
otherwise; a requester is known from the ticket's creation or from the tickets among the
files, and a comment on a ticket whose requester is unknown is refused (counted, with what
to add), never guessed. Satisfaction (good/bad) is a CSAT response of 5 or 1. Ids are the
webhooks' (see connectors.zendesk), so history imported over live webhooks counts once.

The customer (schema v1.2's ``customer_id``) is the ticket's ``requester_id`` as the files
name it (a ``Create`` child, a ticket record, a satisfaction rating), on the ticket's
creation, its requester's comments, a rating and the ends a ticket record gives; never the
updater a creation without a requester falls back to for telling comments apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from connectors.base import Context, Doc, Imported, customer, event, iso, items, with_customer
from connectors.errors import ConnectorError
from connectors.zendesk import NAME, comment, csat, labels, status_events

ENDS = ("solved", "closed")
UNKNOWN_REQUESTER = ("comment on a ticket whose requester is unknown (its creation is not "
                     "in the files: add the tickets export, GET /api/v2/incremental/tickets)")


@dataclass
class ExportMapper:
    """Stateful over one export: each ticket's requester, from its creation or the
    tickets among the files."""

    ctx: Context
    requesters: dict[str, str] = field(default_factory=dict)
    # each ticket's requester_id as the files name it (not the updater fallback above)
    customers: dict[str, str] = field(default_factory=dict)
    out: Imported = field(default_factory=Imported)
    # tickets whose record says solved or closed: (status, updated_at), and those whose
    # end the files' updates hold
    done: dict[str, tuple[str, str]] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)

    def ticket(self, t: Doc) -> None:
        """A ticket record: its requester, and its creation (the id the ticket event's
        creation has too, so both in the files count once)."""
        key = self.ctx.key(t["id"])
        if t.get("requester_id") is not None:
            self.requesters[key] = str(t["requester_id"])
        if (cid := customer(t.get("requester_id"))) is not None:
            self.customers[key] = cid
        if t.get("created_at"):
            self.out.events.append(event(NAME, f"{key}:created", "ticket.created", key,
                                         iso(t["created_at"], "ticket"),
                                         customer_id=self.customers.get(key),
                                         **labels(t, self.ctx)))
        status = str(t.get("status") or "").lower()
        if status in ENDS and t.get("updated_at"):
            self.done[key] = (status, iso(t["updated_at"], "ticket"))

    def close_unended(self) -> None:
        """A ticket the tickets export says is solved or closed, whose solve no update in
        the files holds (the tickets export alone): ended at its last update, the latest
        it can have been, rather than left waiting (and breaching) for ever."""
        for key, (status, at) in self.done.items():
            if key not in self.ended:  # a closed ticket was solved first
                for ended in ENDS[:ENDS.index(status) + 1]:
                    self.out.events += with_customer(status_events(ended, "", key, at),
                                                     self.customers.get(key))
                self.out.approximate(f"{status} at the ticket record's updated_at (no "
                                     "status change in the files: add the ticket events)")

    def rating(self, r: Doc) -> None:
        """A satisfaction rating record (``GET /api/v2/satisfaction_ratings``): good or bad
        is a response; offered and unoffered are none yet."""
        key = self.ctx.key(r["ticket_id"])
        found = csat(key, str(r.get("score") or ""), iso(r.get("updated_at")
                                                       or r.get("created_at"), "rating"))
        self.out.events += with_customer(found, customer(r.get("requester_id"))
                                         or self.customers.get(key))
        if not found:
            self.out.skip(f"satisfaction {r.get('score')} (not a rating)")

    def update(self, te: Doc) -> None:
        ticket, children = te.get("ticket_id"), _children(te)
        if ticket is None or te.get("id") is None:
            raise ConnectorError("missing_field", "ticket event has no id or ticket_id")
        if not children:  # metric events (SLA, agent work time): no child events
            self.out.skip("ticket metrics (figures, not events)" if "reopens" in te else
                          str(te.get("type") or te.get("event_type") or "no_child_events"))
            return
        key = self.ctx.key(ticket)
        at = iso(te.get("timestamp") or te.get("created_at"), "ticket event")
        creates = [c for c in children if c.get("event_type") == "Create"]
        if creates:
            fields = {k: v for c in creates for k, v in c.items()}
            self.requesters[key] = str(fields.get("requester_id") or te.get("updater_id")
                                       or te.get("author_id"))
            if (cid := customer(fields.get("requester_id"))) is not None:
                self.customers[key] = cid
            self.out.events.append(event(NAME, f"{key}:created", "ticket.created", key, at,
                                         customer_id=self.customers.get(key),
                                         **labels(fields, self.ctx)))
        for child in children:
            self._child(child, key, at)

    def _child(self, child: Doc, key: str, at: str) -> None:
        kind = child.get("event_type")
        if kind == "Comment":
            self._comment(child, key, at)
        elif kind == "Change" and "status" in child:
            self.out.events += status_events(str(child["status"]),
                                             str(child.get("previous_value") or ""), key, at)
            if str(child["status"]).lower() in ENDS:
                self.ended.add(key)
        elif kind == "Change" and "satisfaction_score" in child:
            found = csat(key, str(child["satisfaction_score"] or ""), at)
            self.out.events += found
            if not found:
                self.out.skip(f"satisfaction {child['satisfaction_score']} (not a rating)")
        elif kind != "Create":
            self.out.skip(f"{kind}:{_field(child)}" if kind == "Change" else str(kind))

    def _comment(self, child: Doc, key: str, at: str) -> None:
        if not child.get("public", True):
            self.out.skip("private_comment")
            return
        requester = self.requesters.get(key)
        if requester is None:
            self.out.refuse(UNKNOWN_REQUESTER)
            return
        author = str(child.get("author_id"))
        mapped = comment(key, child.get("id"), iso(child["created_at"], "comment")
                         if child.get("created_at") else at, author != requester, author)
        # the requester's own comment names the customer: its author is the requester_id
        self.out.events += with_customer([mapped], author if author == requester
                                         and self.customers.get(key) == author else None)


def _children(te: Doc) -> list[Doc]:
    """A ticket event's children; an audit's ``events`` in the same shape (``field_name``
    and ``value`` as the field's key and value); a comment record (the comment events one
    per record, as connector tools export them) as its own child."""
    if te.get("child_events") is not None:
        return list(te["child_events"])
    if te.get("event_type") == "Comment":
        return [te]
    out = []
    for e in te.get("events") or []:
        kind = e.get("type")
        if kind in ("Create", "Change") and e.get("field_name"):
            out.append({"id": e.get("id"), "event_type": kind, e["field_name"]: e.get("value"),
                        "previous_value": e.get("previous_value")})
        elif kind == "Comment":
            out.append({**e, "event_type": "Comment"})
        elif kind:
            out.append({"id": e.get("id"), "event_type": kind})
    return out


def _field(child: Doc) -> str:
    known = {"id", "via", "via_reference_id", "event_type", "previous_value"}
    return next((k for k in child if k not in known), "?")


def _kind(doc: Doc) -> str:
    if "score" in doc and "ticket_id" in doc:
        return "rating"
    if "requester_id" in doc and "id" in doc and "ticket_id" not in doc:
        return "ticket"
    if {"id", "name"} <= doc.keys() and "ticket_id" not in doc and "url" in doc:
        return "group"
    if doc.keys() & {"child_events", "events", "ticket_id", "timestamp"}:
        return "update"  # a ticket event, an audit, or a metric event (no children)
    return "other"


def _when(doc: Doc) -> tuple[int, str]:
    """Tickets first (they say who the requester is), then updates in time order."""
    try:
        at = iso(doc.get("timestamp") or doc.get("created_at") or doc.get("time"), "record")
    except ConnectorError:
        at = ""
    return (0 if _kind(doc) == "ticket" else 1, at)


def normalize_export(docs: Iterable[Any], ctx: Context) -> Imported:
    """Every record of the files, mapped in time order (the files may come in any order; a
    comment needs its ticket's requester)."""
    records = list(items(docs, "ticket_events", "audits", "tickets", "groups"))
    names = {f"group:{g['id']}": str(g["name"]) for g in records if _kind(g) == "group"}
    mapper = ExportMapper(replace(ctx, queues={**names, **ctx.queues}))
    for doc in sorted(records, key=_when):
        kind = _kind(doc)
        try:
            if kind == "ticket":
                mapper.ticket(doc)
            elif kind == "rating":
                mapper.rating(doc)
            elif kind == "update":
                mapper.update(doc)
            elif kind == "other":
                raise ConnectorError("unknown_payload", "not a Zendesk ticket event, audit, "
                                                        "ticket or group")
        except ConnectorError as err:
            mapper.out.refuse(err)
    mapper.close_unended()
    if names:
        mapper.out.skip(f"group records (named {len(names)} queues)")
    return mapper.out
