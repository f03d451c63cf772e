"""The KPI catalog is consistent: one key and one series per value, every stored field it
reads is one that the KPI arithmetic writes, and every alertable statistic points at a key
the summary produces."""

from __future__ import annotations

import json

from devtools import simulate as sim
from kpi import catalog
from kpi.agents import (
    CONTACT_STARTED,
    STATUS_CHANGED,
    WRAPUP_ENDED,
    AgentEvent,
    timeline,
    window_fields,
)
from kpi.calendar import BusinessCalendar
from kpi.calendars import Calendars
from kpi.config import KpiConfig, windows_from_text
from kpi.conversation import contributions
from kpi.customers import Contact, customer_items
from kpi.events import Event
from kpi.policies import parse_policies
from streams.schema import SchemaConfig, validate

# every queue on a calendar and under an SLA policy, so those fields are written too
ALWAYS = BusinessCalendar("always", "UTC", (((0, 1440),),) * 7)
POLICY = parse_policies("policies: [{name: p, targets: {first_reply: 5m, next_reply: 10m, "
                        "resolution: 1h}}]")
CFG = KpiConfig(windows=windows_from_text("1h"), calendars=Calendars(default=ALWAYS),
                policies=POLICY)


def _stored_fields_written() -> set[str]:
    """Every field name the arithmetic writes over a simulated floor (all event kinds)."""
    hist = sim.generate(sim.FloorParams(seed=5, rate_per_min=30), 0, 4 * 3_600_000, chunk="c")
    events = [validate(json.dumps(e).encode(), SchemaConfig(), lambda: 2**62) for e in hist]
    by: dict[str, list] = {}
    for e in events:
        by.setdefault(e.conversation_id, []).append(e)
    # abandoned: a queued ticket that was solved without a human reply
    by["abandoned"] = [Event("a1", "ticket.created", 0, "abandoned"),
                       Event("a2", "ticket.solved", 60_000, "abandoned")]
    fields: set[str] = set()
    for evs in by.values():
        for (_t, metric) in contributions(evs, CFG).items:
            fields.add(metric.split(":")[0])
    # the customer path's: a repeat on another channel, and a resolved eligible one
    contacts = [Contact("a", 0, "email", 10, True, "*|", (10, 2)),
                Contact("b", 20, "chat", 30, True, "*|", (30, 2))]
    fields |= {name for _dk, _t, name in customer_items(contacts, 1_000)}
    # the agents' (kpi.agents): a contact with wrap-up of an available agent
    agent = [AgentEvent("s", STATUS_CHANGED, 0, "ann", "available", ("q",)),
             AgentEvent("a", CONTACT_STARTED, 10, "ann", conversation_id="c"),
             AgentEvent("b", WRAPUP_ENDED, 20, "ann", conversation_id="c")]
    rows = window_fields({"ann": timeline(agent)}, 0, 100, 100, [()])
    fields |= {name.split(":")[0] for f in rows.values() for name in f}
    return fields


def _stored_fields_read() -> set[str]:
    out: set[str] = set()
    for m in catalog.WINDOWED:
        if isinstance(m, catalog.Count | catalog.Volume):
            out.add(m.field)
        elif isinstance(m, catalog.Duration):
            out |= {f"{m.field}_s", f"{m.field}_h"}  # the count is the sum of the bins
        elif isinstance(m, catalog.Ratio):
            out |= {m.num, m.den}
        elif isinstance(m, catalog.Mean):
            out |= {m.total, m.n}
        else:
            out |= {m.plus, m.minus, m.n}
    return out


def test_keys_and_series_are_declared_once() -> None:
    keys = [k for k in catalog.summarize({}) if k]
    assert len(keys) == len(set(keys))
    metrics = [m.metric for m in catalog.WINDOWED if not isinstance(m, catalog.Volume)]
    metrics += [g.metric for g in catalog.LIVE]
    assert len(metrics) == len(set(metrics))
    ids = [s.show.ident for s in (*catalog.COLUMNS, *catalog.LIVE_COLUMNS)]
    assert len(ids) == len(set(ids))


def test_every_field_the_catalog_reads_is_written_by_the_arithmetic() -> None:
    written = _stored_fields_written()
    missing = _stored_fields_read() - written
    assert not missing, f"the catalog reads fields no KPI writes: {sorted(missing)}"
    unread = written - _stored_fields_read()
    assert not unread, f"the arithmetic writes fields no KPI reads: {sorted(unread)}"


def test_every_statistic_points_at_a_summary_key() -> None:
    keys = set(catalog.summarize({}))
    for table in catalog.windowed_statistics().values():
        for stat in table.values():
            assert stat.key in keys
            assert stat.samples_key is None or stat.samples_key in keys
    for shown in catalog.COLUMNS:
        assert shown.key in keys
    assert [t.show.ident for t in catalog.TILES] == [
        "frt_p90", "frt_sla", "fcr", "escalation", "repeat", "csat", "sla_first_reply",
        "waiting",
        "oldest_waiting", "breaching", "at_risk", "avail", "gap"]


def test_summary_values_from_hand_written_fields() -> None:
    row = catalog.summarize({"done_n": 4, "fcr_d": 4, "fcr_n": 3, "nps_n": 4, "nps_pro": 2,
                             "nps_det": 1, "ces_n": 2, "ces_sm": 5500, "queue_in": 0,
                             "abandoned": 0})
    assert row["fcr_ratio"] == 0.75 and row["completed"] == 4
    assert row["nps_score"] == 25.0 and row["ces_mean"] == 2.75
    assert row["abandonment_ratio"] is None  # no denominator: absent, never 0
    assert row["frt_p90_seconds"] is None and row["frt_count"] == 0
