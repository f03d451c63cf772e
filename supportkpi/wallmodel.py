"""What the wall shows: tiles, a queue table, alerts and freshness, from the read side.

Built from the same reader as /metrics, so a tile and its series always agree. Colours
come from the alert rules: a tile is red while a rule on its KPI is firing, amber while
one is pending or its value is past a rule's threshold, green otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.rules import Rule
from windows import kpi
from windows.config import KpiConfig
from windows.reader import WindowReader


@dataclass(frozen=True)
class TileSpec:
    id: str
    label: str
    kpi: str
    statistic: str
    key: str  # row key (window row or gauge row)
    unit: str  # duration | percent | count | score
    live: bool = False


TILES: tuple[TileSpec, ...] = (
    TileSpec("frt_p90", "First response p90", "first_response", "p90", "frt_p90_seconds",
             "duration"),
    TileSpec("fcr", "First contact resolution", "fcr", "ratio", "fcr_ratio", "percent"),
    TileSpec("escalation", "Escalation rate", "escalation", "ratio", "escalation_ratio",
             "percent"),
    TileSpec("csat", "CSAT", "csat", "ratio", "csat_ratio", "percent"),
    TileSpec("waiting", "Waiting now", "waiting", "value", "waiting", "count", live=True),
    TileSpec("oldest_waiting", "Oldest waiting", "oldest_waiting", "value",
             "oldest_waiting_seconds", "duration", live=True),
)
QUEUE_COLUMNS: tuple[TileSpec, ...] = (
    TILES[0], TILES[1], TILES[2], TILES[3],
    TileSpec("created", "Created", "volume", "count", "volume_created", "count"),
    TILES[4], TILES[5],
)


def _past(rule: Rule, value: float | None) -> bool:
    if value is None:
        return False
    t = rule.threshold
    return {">": value > t, ">=": value >= t, "<": value < t, "<=": value <= t}[rule.comparison]


class WallModel:
    def __init__(self, reader: WindowReader, cfg: KpiConfig, rules: Sequence[Rule],
                 clock: Callable[[], float], stale_after_s: float) -> None:
        self._reader = reader
        self._cfg = cfg
        self._rules = list(rules)
        self._clock = clock
        self._stale_after_ms = int(stale_after_s * 1000)

    @property
    def windows(self) -> list[str]:
        return [w.name for w in self._cfg.windows]

    def _status(self, spec: TileSpec, dims: Mapping[str, str], value: float | None,
                alerts: Mapping[str, Mapping[str, Any]]) -> str:
        per = sorted(dims)
        status = "ok"
        for r in self._rules:
            if (r.kpi, r.statistic) != (spec.kpi, spec.statistic) or sorted(r.per) != per:
                continue
            state = alerts.get(f"{r.name}|{kpi.dimension_key(dict(dims), r.per)}", {})
            if state.get("status") == "firing":
                return "firing"
            if state.get("status") == "pending" or _past(r, value):
                status = "warn"
        return status

    def snapshot(self, window: str) -> dict[str, Any]:
        w = self._cfg.window(window)
        now = int(self._clock() * 1000)
        rows = self._reader.window(w, now).rows
        gauges = self._reader.gauges(now)
        pipeline = self._reader.stats()
        stats = pipeline.counters
        alerts = self._reader.alert_states()
        floor, gfloor = rows.get("*", {}), gauges.get("*", {})
        tiles = []
        for spec in TILES:
            v = (gfloor if spec.live else floor).get(spec.key)
            tiles.append({"id": spec.id, "label": spec.label, "unit": spec.unit, "value": v,
                          "status": self._status(spec, {}, v, alerts)})
        queues = []
        names = sorted({kpi.parse_dimension_key(k)["queue"] for k in [*rows, *gauges]
                        if set(kpi.parse_dimension_key(k)) == {"queue"}})
        for q in names:
            row, grow = rows.get(f"queue={q}", {}), gauges.get(f"queue={q}", {})
            cells = []
            for spec in QUEUE_COLUMNS:
                v = (grow if spec.live else row).get(spec.key)
                cells.append({"id": spec.id, "unit": spec.unit, "value": v,
                              "status": self._status(spec, {"queue": q}, v, alerts)})
            queues.append({"queue": q, "cells": cells})
        active = []
        for key, doc in sorted(alerts.items()):
            if doc.get("status") in ("pending", "firing"):
                rule, _, dimkey = key.partition("|")
                active.append({"rule": rule, "status": doc["status"],
                               "severity": doc.get("severity", ""), "value": doc.get("value"),
                               "dimensions": kpi.parse_dimension_key(dimkey)})
        last = stats.get("last_applied_ms")
        return {
            "window": w.name,
            "windows": self.windows,
            "at": now / 1000.0,
            "last_applied": last / 1000.0 if last else None,
            "last_event": stats["last_event_ms"] / 1000.0 if "last_event_ms" in stats else None,
            "stale": last is None or now - last > self._stale_after_ms,
            "stale_after": self._stale_after_ms / 1000.0,
            # event time before which this window lacks events (Redis lost its data);
            # None when complete, 0 when the store is not rebuilt yet
            "incomplete_before": None if pipeline.complete(w.length_ms, now)
            else (pipeline.lost_before_ms or 0) / 1000.0,
            "tiles": tiles,
            "queue_columns": [{"id": c.id, "label": c.label} for c in QUEUE_COLUMNS],
            "queues": queues,
            "alerts": active,
        }
