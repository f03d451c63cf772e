"""Generate the provisioned Grafana dashboards (deploy/grafana/dashboards/*.json).

Thresholds come from deploy/alerts.yml so the wall's colours match the alert rules.
Run: .venv/bin/python scripts/build_dashboards.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DS = {"type": "prometheus", "uid": "prometheus"}
# Every dimension is pinned, `agent` included (absent unless SUPPORT_DIMENSIONS names it),
# and every expression aggregates the worker replicas away: turning a dimension on, or
# scaling the workers, changes no panel.
AGENT_ALL = 'agent=~"all|"'
FLOOR = f'window="$window",queue="all",channel="all",team="all",priority="all",{AGENT_ALL}'
QUEUE = f'window="$window",queue=~"$queue",channel="all",team="all",priority="all",{AGENT_ALL}'
LIVE_FLOOR = f'queue="all",channel="all",{AGENT_ALL}'
LIVE_QUEUE = f'queue=~"$queue",channel="all",{AGENT_ALL}'
# the allow-listed agents only: "none" (no human reply yet) and "other" (not allow-listed)
AGENTS = ('window="$window",queue="all",channel="all",team="all",priority="all",'
          'agent!~"all|none|other|"')


def rule_threshold(kpi: str, statistic: str) -> tuple[str, float] | None:
    rules = yaml.safe_load((ROOT / "deploy/alerts.yml").read_text())["rules"]
    for r in rules:
        if r["kpi"] == kpi and r["statistic"] == statistic:
            return r["comparison"], float(r["threshold"])
    return None


def steps(kpi: str, statistic: str) -> list[dict[str, Any]]:
    found = rule_threshold(kpi, statistic)
    if found is None:
        return [{"color": "green", "value": None}]
    cmp, t = found
    if cmp in (">", ">="):
        return [{"color": "green", "value": None}, {"color": "red", "value": t}]
    return [{"color": "red", "value": None}, {"color": "green", "value": t}]


def stat(pid: int, title: str, expr: str, unit: str, x: int, y: int, th: list[dict[str, Any]],
         w: int = 8, h: int = 7, decimals: int | None = 1) -> dict[str, Any]:
    shown: dict[str, Any] = {"unit": unit} if decimals is None else {"unit": unit,
                                                                      "decimals": decimals}
    return {
        "id": pid, "type": "stat", "title": title, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [{"refId": "A", "datasource": DS, "expr": expr, "instant": True}],
        "fieldConfig": {"defaults": {**shown,
                                     "thresholds": {"mode": "absolute", "steps": th},
                                     "color": {"mode": "thresholds"}}, "overrides": []},
        "options": {"colorMode": "background", "graphMode": "none", "textMode": "value",
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    }


def series(pid: int, title: str, exprs: list[tuple[str, str]], unit: str, x: int, y: int,
           w: int = 12, h: int = 8) -> dict[str, Any]:
    return {
        "id": pid, "type": "timeseries", "title": title, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": e, "legendFormat": lg}
                    for i, (e, lg) in enumerate(exprs)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
    }


def variables(with_queue: bool) -> dict[str, Any]:
    items: list[dict[str, Any]] = [{
        "name": "window", "type": "custom", "label": "Window", "query": "5m,15m,1h,24h",
        "current": {"text": "15m", "value": "15m"},
        "options": [{"text": w, "value": w, "selected": w == "15m"}
                    for w in ("5m", "15m", "1h", "24h")]}]
    if with_queue:
        items.append({"name": "queue", "type": "query", "label": "Queue", "datasource": DS,
                      "query": 'label_values(support_completed_conversations{queue!="all"}, '
                               'queue)',
                      "includeAll": True, "multi": True, "allValue": ".+",
                      "current": {"text": "All", "value": "$__all"}, "refresh": 2})
    return {"list": items}


def wall() -> dict[str, Any]:
    panels = [
        stat(1, "First response p90",
             f'max(support_first_response_seconds{{{FLOOR},quantile="0.9"}})', "s", 0, 0,
             steps("first_response", "p90")),
        stat(2, "First contact resolution", f"max(support_fcr_ratio{{{FLOOR}}})", "percentunit", 8,
             0, steps("fcr", "ratio")),
        stat(3, "Escalation rate", f"max(support_escalation_ratio{{{FLOOR}}})", "percentunit", 16,
             0, steps("escalation", "ratio")),
        stat(4, "CSAT", f"max(support_csat_ratio{{{FLOOR}}})", "percentunit", 0, 7,
             steps("csat", "ratio")),
        stat(5, "Backlog (waiting now)",
             f"max(support_waiting_conversations{{{LIVE_FLOOR}}})", "none", 8, 7,
             steps("waiting", "value")),
        stat(6, "Oldest waiting", f"max(support_oldest_waiting_seconds{{{LIVE_FLOOR}}})",
             "s", 16, 7, steps("oldest_waiting", "value")),
        {
            "id": 7, "type": "table", "title": "Queues", "datasource": DS,
            "gridPos": {"x": 0, "y": 14, "w": 24, "h": 10},
            "targets": [
                {"refId": "A", "datasource": DS, "instant": True, "format": "table",
                 "expr": f'max by (queue) (support_first_response_seconds'
                         f'{{{QUEUE},quantile="0.9"}})'},
                {"refId": "B", "datasource": DS, "instant": True, "format": "table",
                 "expr": f"max by (queue) (support_fcr_ratio{{{QUEUE}}})"},
                {"refId": "C", "datasource": DS, "instant": True, "format": "table",
                 "expr": f"max by (queue) (support_escalation_ratio{{{QUEUE}}})"},
                {"refId": "D", "datasource": DS, "instant": True, "format": "table",
                 "expr": f"max by (queue) (support_csat_ratio{{{QUEUE}}})"},
                {"refId": "E", "datasource": DS, "instant": True, "format": "table",
                 "expr": f"max by (queue) (support_waiting_conversations{{{LIVE_QUEUE}}})"},
                {"refId": "F", "datasource": DS, "instant": True, "format": "table",
                 "expr": f"max by (queue) (support_repeat_contact_ratio{{{QUEUE}}})"},
            ],
            "transformations": [{"id": "merge", "options": {}},
                                {"id": "organize", "options": {
                                    "excludeByName": {"Time": True, "window": True,
                                                      "channel": True, "team": True,
                                                      "priority": True, "quantile": True,
                                                      "__name__": True, "instance": True,
                                                      "job": True},
                                    "renameByName": {"Value #A": "FRT p90 (s)",
                                                     "Value #B": "FCR", "Value #C": "Escalation",
                                                     "Value #D": "CSAT",
                                                     "Value #E": "Waiting",
                                                     "Value #F": "Repeat"}}}],
            "fieldConfig": {"defaults": {"decimals": 2}, "overrides": []},
            "options": {"showHeader": True},
        },
        *sla_tiles(),
        stat(11, "Repeat contacts (customers back within the repeat window)",
             f"max(support_repeat_contact_ratio{{{FLOOR}}})", "percentunit", 0, 31,
             steps("repeat_contact", "ratio")),
        *agent_tiles(),
    ]
    return {"uid": "support-wall", "title": "Support wall", "editable": False,
            "refresh": "5s", "time": {"from": "now-15m", "to": "now"}, "schemaVersion": 39,
            "tags": ["support"], "templating": variables(True), "panels": panels}


# the agent gauges' rows: the floor, or a queue, across every team (with `team` in
# SUPPORT_GAUGE_DIMENSIONS, the team rows are beside them)
AGENTS_FLOOR = f'{LIVE_FLOOR},team=~"all|"'
AGENTS_QUEUE = f'{LIVE_QUEUE},team=~"all|"'


def agent_tiles() -> list[dict[str, Any]]:
    """The wall's staffing row (agent events, schema v1.3; empty without them)."""
    return [
        stat(12, "Agents available", f"max(support_agents_available{{{AGENTS_FLOOR}}})",
             "none", 8, 31, [{"color": "red", "value": None}, {"color": "green", "value": 1}],
             decimals=None),
        stat(13, "Staffing gap: agents needed (Erlang C) − staffed",
             f"max(support_staffing_gap_agents{{{AGENTS_FLOOR}}})", "none", 16, 31,
             steps("staffing_gap", "value"), decimals=None),
        stat(14, "Occupancy", f"max(support_agent_occupancy_ratio{{{FLOOR}}})", "percentunit",
             0, 38, [{"color": "green", "value": None}, {"color": "orange", "value": 0.85},
                     {"color": "red", "value": 0.95}]),
    ]


def agent_series(q: str) -> list[dict[str, Any]]:
    """The ops dashboard's agent and staffing panels (agent events; empty without them)."""
    states = ("online", "available", "on_contact", "after_contact_work", "away")
    c = f'window="$window",queue="all",channel!="all",team="all",priority="all",{AGENT_ALL}'
    return [
        series(22, "Agents by state (floor)",
               [(f"max(support_agents_{s}{{{AGENTS_FLOOR}}})", s.replace("_", " "))
                for s in states], "none", 12, 72),
        series(23, "Agents needed (Erlang C) and staffed by queue",
               [(f"max by (queue) (support_staffing_agents_needed{{{AGENTS_QUEUE}}})",
                 "{{queue}} needed"),
                (f"max by (queue) (support_agents_staffed{{{AGENTS_QUEUE}}})",
                 "{{queue}} staffed")], "none", 0, 80),
        series(24, "Staffing gap by queue (needed − staffed)",
               [(f"max by (queue) (support_staffing_gap_agents{{{AGENTS_QUEUE}}})",
                 "{{queue}}")], "none", 12, 80),
        series(25, "Predicted service level with the staffed agents, by queue",
               [(f"max by (queue) (support_staffing_service_level_predicted"
                 f"{{{AGENTS_QUEUE}}})", "{{queue}}")], "percentunit", 0, 88),
        series(26, "Occupancy by queue",
               [(f"max by (queue) (support_agent_occupancy_ratio{{{q}}})", "{{queue}}")],
               "percentunit", 12, 88),
        series(27, "Handle time p90 by channel (talk and after-contact work)",
               [(f'max by (channel) (support_handle_time_seconds{{{c},quantile="0.9"}})',
                 "{{channel}}")], "s", 0, 96),
    ]


def sla_tiles() -> list[dict[str, Any]]:
    """The wall's SLA row: first-reply achievement (with SUPPORT_SLA_POLICIES), conversations
    at risk of breaching within the longest horizon, and breaching now."""
    return [
        stat(8, "SLA first reply achievement (SLA policies)",
             f"max(support_sla_first_reply_achievement_ratio{{{FLOOR}}})", "percentunit", 0,
             24, [{"color": "red", "value": None}, {"color": "green", "value": 0.9}]),
        stat(9, "At risk: breach within 15m unless answered",
             f'max(support_sla_at_risk_conversations{{{LIVE_FLOOR},within="15m"}})', "none",
             8, 24, [{"color": "green", "value": None}, {"color": "orange", "value": 1},
                     {"color": "red", "value": 10}], decimals=None),
        stat(10, "Breaching SLA now",
             f"max(support_sla_breaching_conversations{{{LIVE_FLOOR}}})", "none", 16, 24,
             [{"color": "green", "value": None}, {"color": "red", "value": 1}], decimals=None),
    ]


def sla_series(q: str) -> list[dict[str, Any]]:
    """The ops dashboard's SLA and business-hours panels."""
    targets = (("first_reply", "first reply"), ("next_reply", "next reply"),
               ("resolution", "resolution"))
    return [
        series(14, "SLA first reply achievement by queue",
               [(f"max by (queue) (support_sla_first_reply_achievement_ratio{{{q}}})",
                 "{{queue}}")], "percentunit", 12, 40),
        series(15, "SLA achievement by target (floor)",
               [(f"max(support_sla_{t}_achievement_ratio{{{FLOOR}}})", name)
                for t, name in targets], "percentunit", 0, 48),
        series(16, "Predicted breaches by queue (within each horizon)",
               [(f"max by (queue, within) (support_sla_at_risk_conversations{{{LIVE_QUEUE}}})",
                 "{{queue}} within {{within}}")], "none", 12, 48),
        series(17, "First response p90 by queue, business hours (SUPPORT_CALENDARS)",
               [(f'max by (queue) (support_first_response_business_seconds'
                 f'{{{q},quantile="0.9"}})', "{{queue}}")], "s", 0, 56),
        series(18, "SLA targets running now by queue",
               [(f"max by (queue) (support_sla_{t}_active{{{LIVE_QUEUE}}})",
                 f"{{{{queue}}}} {name}") for t, name in targets], "none", 12, 56),
    ]


def customer_series(q: str) -> list[dict[str, Any]]:
    """The ops dashboard's customer panels (SUPPORT_CUSTOMER_KPIS; empty without it)."""
    return [
        series(19, "Repeat contact rate by queue (customers)",
               [(f"max by (queue) (support_repeat_contact_ratio{{{q}}})", "{{queue}}")],
               "percentunit", 0, 64),
        series(20, "Customer FCR and channel switching (floor)",
               [(f"max(support_customer_fcr_ratio{{{FLOOR}}})", "customer FCR"),
                (f"max(support_repeat_channel_switch_ratio{{{FLOOR}}})",
                 "repeats on another channel"),
                (f"max(support_fcr_ratio{{{FLOOR}}})", "FCR (per conversation)")],
               "percentunit", 12, 64),
        series(21, "Contacts per customer (from a first contact through the repeat window)",
               [(f"max by (queue) (support_contacts_per_customer_mean{{{q}}})", "{{queue}}")],
               "none", 0, 72),
    ]


def ops() -> dict[str, Any]:
    q = QUEUE
    c = f'window="$window",queue="all",channel!="all",team="all",priority="all",{AGENT_ALL}'
    panels = [
        series(1, "First response p90 by queue",
               [(f'max by (queue) (support_first_response_seconds{{{q},quantile="0.9"}})',
                 "{{queue}}")], "s", 0, 0),
        series(2, "First response p90 by channel",
               [(f'max by (channel) (support_first_response_seconds{{{c},quantile="0.9"}})',
                 "{{channel}}")], "s", 12, 0),
        series(3, "FCR by queue", [(f"max by (queue) (support_fcr_ratio{{{q}}})", "{{queue}}")],
               "percentunit", 0, 8),
        series(4, "Escalation rate by queue",
               [(f"max by (queue) (support_escalation_ratio{{{q}}})", "{{queue}}")],
               "percentunit", 12, 8),
        series(5, "Throughput (events/s)",
               [("sum by (topic) (rate(support_events_processed_total[1m]))", "{{topic}}")],
               "ops", 0, 16, 8),
        series(6, "Rejected and late (per minute)",
               [("sum by (reason) (rate(support_events_rejected_total[5m])) * 60",
                 "rejected {{reason}}"),
                ("sum by (kpi) (rate(support_events_late_dropped_total[5m])) * 60",
                 "late {{kpi}}"),
                ("rate(support_events_duplicate_total[5m]) * 60", "duplicates")], "none", 8, 16,
               8),
        series(7, "Consumer lag (messages)",
               [("sum by (topic) (support_consumer_lag_messages)", "{{topic}}")], "none", 16,
               16, 8),
        series(8, "Event freshness (s)",
               [("time() - max(support_last_event_timestamp_seconds)", "newest event age"),
                ("time() - max(support_last_applied_timestamp_seconds)", "last batch applied"),
                ("max(support_catching_up) * 60", "catching up (60 = yes)")],
               "s", 0, 24, 8),
        series(9, "Redis up", [("min(support_redis_up)", "exporter"),
                               ("min(support_worker_redis_up)", "workers")], "none", 8, 24, 8),
        series(10, "Batch latency p99 (s)",
               [("histogram_quantile(0.99, sum by (le) "
                 "(rate(support_batch_duration_seconds_bucket[5m])))", "p99")], "s", 16, 24, 8),
        series(11, "Alert states (2 = firing)",
               [("max by (rule) (support_alert_state)", "{{rule}}")], "none", 0, 32, 16),
        series(12, "Store complete (0 = Redis lost data)",
               [("min by (window) (support_store_complete)", "{{window}}")], "none", 16, 32,
               8),
        series(13, "Series folded into 'other' (series budget)",
               [("max by (window) (support_series_folded)", "{{window}}")], "none", 0, 40, 12),
        *sla_series(q),
        *customer_series(q),
        *agent_series(q),
    ]
    return {"uid": "support-ops", "title": "Support ops", "editable": True, "refresh": "10s",
            "time": {"from": "now-6h", "to": "now"}, "schemaVersion": 39, "tags": ["support"],
            "templating": variables(True), "panels": panels}


def agents() -> dict[str, Any]:
    """Per agent, for the allow-listed agents only (SUPPORT_AGENT_ALLOWLIST, with `agent` in
    SUPPORT_DIMENSIONS): first response, FCR, conversations and CSAT by agent, and from
    the agent events their occupancy and handle time."""
    a = AGENTS
    panels = [
        series(1, "First response p90 by agent",
               [(f'max by (agent) (support_first_response_seconds{{{a},quantile="0.9"}})',
                 "{{agent}}")], "s", 0, 0),
        series(2, "FCR by agent", [(f"max by (agent) (support_fcr_ratio{{{a}}})", "{{agent}}")],
               "percentunit", 12, 0),
        series(3, "Completed conversations by agent",
               [(f"max by (agent) (support_completed_conversations{{{a}}})", "{{agent}}")],
               "none", 0, 8),
        series(4, "CSAT by agent", [(f"max by (agent) (support_csat_ratio{{{a}}})",
                                     "{{agent}}")], "percentunit", 12, 8),
        series(5, "Occupancy by agent (agent events)",
               [(f"max by (agent) (support_agent_occupancy_ratio{{{a}}})", "{{agent}}")],
               "percentunit", 0, 16),
        series(6, "Handle time p90 by agent (agent events)",
               [(f'max by (agent) (support_handle_time_seconds{{{a},quantile="0.9"}})',
                 "{{agent}}")], "s", 12, 16),
    ]
    return {"uid": "support-agents", "title": "Support agents (allow-listed)",
            "editable": True, "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
            "schemaVersion": 39, "tags": ["support"], "templating": variables(False),
            "panels": panels}


def dashboards() -> dict[str, str]:
    """File name → the JSON text this script writes (compared with the committed files by
    tests/unit/deploy/test_static.py, so an edit by hand cannot go stale unseen)."""
    return {f"{name}.json": json.dumps(doc, indent=2) + "\n"
            for name, doc in (("wall", wall()), ("ops", ops()), ("agents", agents()))}


if __name__ == "__main__":
    out = ROOT / "deploy/grafana/dashboards"
    for name, text in dashboards().items():
        (out / name).write_text(text)
        print(f"wrote {out / name}")
