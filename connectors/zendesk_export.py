"""Zendesk's Incremental Ticket Event Export (``GET /api/v2/incremental/ticket_events
?include=comment_events``) → schema v1, for ``support-kpi import zendesk``.

Each ticket event is one update (an audit) at ``timestamp`` with its ``child_events``:
``Create`` children carry the new ticket's fields (``status``, ``priority``,
``group_id``, ``requester_id``), ``Change`` children one field's new value and
``previous_value``, ``Comment`` children (the comment_events sideload) the comment with
``author_id`` and ``public``
(https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/).
A comment is the customer's when its author is the ticket's requester, an agent's
otherwise; so the mapper remembers each ticket's requester across the export.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.base import Doc, Imported, event, iso, items
from connectors.errors import ConnectorError
from connectors.zendesk import status_events

NAME = "zendesk"
# the export's "via" names → the channel labels of the webhooks
VIA = {"mail": "email", "web_form": "web", "web_service": "api", "api": "api", "chat": "chat",
       "native_messaging": "chat", "voice": "voice", "closed_ticket": "email"}


@dataclass
class ExportMapper:
    """Stateful over one export: a ticket's requester and labels, from its creation."""

    account: str = "0"
    requesters: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def map(self, te: Doc) -> list[Doc]:
        ticket = te.get("ticket_id")
        if ticket is None or te.get("id") is None:
            raise ConnectorError("missing_field", "ticket event has no id or ticket_id")
        key = f"{self.account}:{ticket}"
        children = te.get("child_events") or []
        if not children:  # metric events (SLA, agent work time): no child events
            self._skip(str(te.get("type") or te.get("event_type") or "no_child_events"))
            return []
        at = iso(te.get("timestamp") or te.get("created_at"), "ticket event")
        out: list[Doc] = []
        creates = [c for c in children if c.get("event_type") == "Create"]
        if creates:
            fields = {k: v for c in creates for k, v in c.items()}
            self.requesters[key] = str(fields.get("requester_id") or te.get("updater_id"))
            out.append(event(NAME, f"export:{te['id']}:create", "ticket.created", key, at,
                             **_labels(fields)))
        for child in children:
            out += self._child(child, key, at)
        return out

    def _child(self, child: Doc, key: str, at: str) -> list[Doc]:
        kind, cid = child.get("event_type"), child.get("id")
        if kind == "Comment":
            if not child.get("public", True):
                self._skip("private_comment")
                return []
            customer = str(child.get("author_id")) == self.requesters.get(key)
            return [event(NAME, f"export:{cid}", "ticket.message", key,
                          iso(child.get("created_at"), "comment") if child.get("created_at")
                          else at, actor="customer" if customer else "agent",
                          agent_id=None if customer else str(child.get("author_id")))]
        if kind == "Change" and "status" in child:
            return status_events(str(child["status"]).lower(),
                                 str(child.get("previous_value") or "").lower(),
                                 f"export:{cid}", key, at)
        if kind not in ("Create",):
            self._skip(f"{kind}:{_field(child)}" if kind == "Change" else str(kind))
        return []

    def _skip(self, what: str) -> None:
        self.skipped[what] = self.skipped.get(what, 0) + 1


def _field(child: Doc) -> str:
    known = {"id", "via", "via_reference_id", "event_type", "previous_value"}
    return next((k for k in child if k not in known), "?")


def _labels(fields: dict[str, Any]) -> dict[str, Any]:
    via = fields.get("via")
    channel = (via.get("channel") if isinstance(via, dict) else via) or ""
    group = fields.get("group_id")
    name = str(channel).lower().replace(" ", "_")
    return {"channel": VIA.get(name, name),
            "queue": f"group-{group}" if group else "",
            "priority": str(fields.get("priority") or "").lower()}


def normalize_export(docs: Iterable[Any], account: str = "0") -> Imported:
    """Every ticket event of the export, mapped in time order (the export may come in
    any order; a comment needs its ticket's requester, known from the creation)."""
    def when(te: Doc) -> tuple[str, int]:
        try:
            return iso(te.get("timestamp") or te.get("created_at") or te.get("time"),
                       "ticket event"), int(te.get("id") or 0)
        except ConnectorError:
            return "", 0

    mapper = ExportMapper(account=account)
    out: list[Doc] = []
    refused: dict[str, int] = {}
    for te in sorted(items(docs, "ticket_events"), key=when):
        try:
            out += mapper.map(te)
        except ConnectorError as err:
            refused[err.reason] = refused.get(err.reason, 0) + 1
    return Imported(out, mapper.skipped, refused)
