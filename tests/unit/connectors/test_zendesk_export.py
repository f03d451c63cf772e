"""Zendesk's Incremental Ticket Event Export (tests/fixtures/connectors/zendesk_export,
in ticket order as a per-ticket dump comes) maps in time order to the events worked out
here: first responses 1200 and 3600 s, responses 1200, 3600 and 600 s, resolutions 2 h
and 2 h 55 min; the private comment, the tag change and the metric event are dropped and
counted."""

from __future__ import annotations

import json

from connectors.base import Context
from connectors.zendesk_export import normalize_export
from tests.support import ROOT
from tests.unit.connectors import common

PAGE = ROOT / "tests/fixtures/connectors/zendesk_export/page1.json"
REAL = ROOT / "tests/fixtures/connectors/real/zendesk"


def test_the_export_maps_in_time_order_with_the_kpis_worked_out() -> None:
    doc = json.loads(PAGE.read_text())
    assert "developer.zendesk.com" in doc["source"]
    imported = normalize_export([doc["payload"]], Context(account="example"))
    times = [e["occurred_at"] for e in imported.events]
    assert times == sorted(times)
    assert [e["type"] for e in imported.events if e["conversation_id"].endswith(":156")] == [
        "ticket.created", "ticket.message", "ticket.status_changed", "ticket.message",
        "ticket.status_changed", "ticket.message", "ticket.message", "ticket.solved"]
    assert imported.skipped == {"private_comment": 1, "Change:tags": 1, "measure": 1}
    assert imported.refused == {}
    row = common.kpi_row(lambda d: [d], imported.events)  # already schema v1
    assert (row["frt_count"], row["frt_mean_seconds"]) == (2, 2400)
    assert (row["response_count"], row["response_mean_seconds"]) == (3, 1800)
    assert (row["resolution_count"], row["resolution_mean_seconds"]) == (2, (7200 + 10500) / 2)
    assert imported.events[0] | {} == {**imported.events[0], "queue": "group-360001",
                                       "priority": "normal", "channel": "web"}


def test_the_customer_is_the_requester_id_of_the_tickets_creation() -> None:
    """Ticket 155's Create children name requester 7, ticket 156's requester 8: their
    creations and their requesters' own comments carry it; an agent's comment or a
    status change names no requester, so they carry none (the creation's is the one)."""
    doc = json.loads(PAGE.read_text())
    imported = normalize_export([doc["payload"]], Context())
    by_ticket: dict[str, set[tuple[str, str, str | None]]] = {}
    for e in imported.events:
        by_ticket.setdefault(e["conversation_id"], set()).add(
            (e["type"], e.get("actor", "-"), e.get("customer_id")))
    assert by_ticket["zendesk:155"] == {("ticket.created", "-", "7"),
                                        ("ticket.message", "customer", "7"),
                                        ("ticket.message", "agent", None),
                                        ("ticket.solved", "-", None)}
    assert {c for t, a, c in by_ticket["zendesk:156"] if t == "ticket.created" or
            a == "customer"} == {"8"}


def test_a_ticket_record_and_a_rating_name_the_requester() -> None:
    """A real tickets export record (real/zendesk/07: closed, requester 360839922496, an
    int) gives its creation and the ends it records that customer; a real satisfaction
    rating (real/zendesk/09, requester 361089721035), once answered good, its own."""
    ticket = json.loads((REAL / "07_api_ticket_closed_csat_unoffered.json").read_text())
    rating = json.loads((REAL / "09_api_satisfaction_rating_offered.json").read_text())
    assert ticket["payload"]["requester_id"] == 360839922496
    out = normalize_export([[ticket["payload"], {**rating["payload"], "score": "good"}]],
                           Context())
    assert [(e["conversation_id"], e["type"], e["customer_id"]) for e in out.events] == [
        ("zendesk:1", "ticket.created", "360839922496"),
        ("zendesk:146", "survey.csat", "361089721035"),
        ("zendesk:1", "ticket.solved", "360839922496"),
        ("zendesk:1", "ticket.closed", "360839922496")]


def test_a_ticket_event_without_ids_is_refused_and_counted() -> None:
    imported = normalize_export([{"ticket_events": [{"timestamp": 1601357459}]}], Context())
    assert imported.events == [] and imported.refused == {"missing_field": 1}
