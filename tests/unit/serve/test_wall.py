"""The wall model on a fixed read side: tiles and queue cells from the catalog, colours
from rules and alert states, freshness."""

from __future__ import annotations

from alerts.rules import parse_rules
from alerts.state import AlertState
from kpi.catalog import QUEUE_COLUMNS, TILES
from serve.wall import WallModel
from tests.unit.serve.fixed import CFG, NOW_MS, FixedAlerts, FixedReader

RULES = parse_rules("""
rules:
  - {name: EscQueue, kpi: escalation, statistic: ratio, window: 15m, per: [queue],
     comparison: ">", threshold: 0.5}
  - {name: FcrFloor, kpi: fcr, statistic: ratio, window: 15m, comparison: "<", threshold: 0.5}
""")


def model(alerts: FixedAlerts, last_applied_ms: int | None = NOW_MS - 1000) -> WallModel:
    return WallModel(FixedReader(last_applied_ms), alerts, CFG, RULES,  # type: ignore[arg-type]
                     stale_after_s=30)


def test_tiles_show_the_floor_values_of_the_catalog_tiles() -> None:
    snap = model(FixedAlerts()).snapshot("1h")
    tiles = {t["id"]: t for t in snap["tiles"]}
    # no calendars, no SLA policies configured: their tiles and columns stay off the wall
    assert list(tiles) == [t.show.ident for t in TILES if not t.show.when]
    assert tiles["at_risk"]["label"] == "At risk ≤15m"  # the longest horizon
    assert tiles["fcr"]["value"] == 1 / 4 and tiles["fcr"]["label"] == "First contact resolution"
    assert tiles["escalation"]["value"] == 3 / 4
    assert tiles["waiting"]["value"] == 2 and tiles["oldest_waiting"]["value"] == 125.0
    assert tiles["fcr"]["status"] == "warn"  # past the floor rule's threshold, not firing
    assert tiles["csat"]["status"] == "ok"
    assert not snap["stale"] and snap["incomplete_before"] is None


def test_queue_cells_turn_red_while_their_rule_fires() -> None:
    firing = FixedAlerts({"EscQueue|queue=billing": AlertState(status="firing",
                                                                severity="page", value=0.75)})
    snap = model(firing).snapshot("1h")
    assert [c["id"] for c in snap["queue_columns"]] == [c.show.ident for c in QUEUE_COLUMNS
                                                        if not c.show.when]
    queues = {q["queue"]: {c["id"]: c for c in q["cells"]} for q in snap["queues"]}
    assert set(queues) == {"billing", "tech"}
    assert queues["billing"]["escalation"]["status"] == "firing"
    assert queues["tech"]["escalation"]["status"] == "ok"
    assert snap["alerts"] == [{"rule": "EscQueue", "status": "firing", "severity": "page",
                               "value": 0.75, "dimensions": {"queue": "billing"}}]


def test_no_applied_event_for_longer_than_stale_after_is_stale() -> None:
    assert model(FixedAlerts(), NOW_MS - 31_000).snapshot("5m")["stale"]
    assert model(FixedAlerts(), None).snapshot("5m")["stale"]


def test_a_floor_tile_shows_the_worst_state_of_its_kpi_in_any_queue() -> None:
    firing = FixedAlerts({"EscQueue|queue=tech": AlertState(status="firing", severity="page")})
    tiles = {t["id"]: t["status"] for t in model(firing).snapshot("1h")["tiles"]}
    assert tiles["escalation"] == "firing"
    pending = FixedAlerts({"EscQueue|queue=tech": AlertState(status="pending")})
    assert {t["id"]: t["status"] for t in model(pending).snapshot("1h")["tiles"]}[
        "escalation"] == "warn"


def test_a_value_on_few_samples_is_greyed_with_its_count() -> None:
    """Billing's CSAT rests on 2 responses and FCR on 4 conversations: below a minimum of
    3, CSAT is greyed (n = 2) and FCR is not; live counts never are."""
    wall = WallModel(FixedReader(), FixedAlerts(), CFG, RULES,  # type: ignore[arg-type]
                     stale_after_s=30, min_samples=3)
    snap = wall.snapshot("1h")
    tiles = {t["id"]: t for t in snap["tiles"]}
    assert (tiles["csat"]["sparse"], tiles["csat"]["samples"]) == (True, 2)
    assert (tiles["fcr"]["sparse"], tiles["fcr"]["samples"]) == (False, 4)
    assert tiles["waiting"]["sparse"] is False and tiles["waiting"]["samples"] is None
    cells = {q["queue"]: {c["id"]: c for c in q["cells"]} for q in snap["queues"]}
    assert cells["billing"]["csat"]["sparse"] is True


def test_calendars_and_policies_put_business_hours_and_sla_achievement_on_the_wall() -> None:
    import dataclasses

    from kpi.calendars import parse_calendars
    from tests.sla_cases import POLICIES

    cals = parse_calendars("""
calendars: {emea: {timezone: Europe/Berlin, hours: {mon: ["09:00-17:00"]}}}
queues: {billing: emea}
""")
    cfg = dataclasses.replace(CFG, calendars=cals, policies=POLICIES)
    snap = WallModel(FixedReader(), FixedAlerts(), cfg, RULES,  # type: ignore[arg-type]
                     stale_after_s=30).snapshot("1h")
    tiles = {t["id"]: t["label"] for t in snap["tiles"]}
    assert tiles["sla_first_reply"] == "SLA first reply"
    columns = {c["id"]: c["label"] for c in snap["queue_columns"]}
    assert columns["frtb_p90"] == "FRT p90 (business hours)"  # labelled as such
    assert columns["sla_first_reply"] == "SLA 1st reply" and columns["at_risk"] == "At risk ≤15m"
