"""What the wall shows: tiles, a queue table, alerts and freshness, from the read side.

Built from the same reader as /metrics, so a tile and its series always agree; the tiles
and the queue columns are the ones the KPI catalog marks (:data:`windows.catalog.TILES`,
:data:`windows.catalog.QUEUE_COLUMNS`). Colours come from the alert rules: a tile is red
while a rule on its KPI is firing, amber while one is pending or its value is past a
rule's threshold, green otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alerts.rules import Rule
from alerts.state import AlertState
from alerts.store import AlertStore, alert_key, split_key
from windows import kpi
from windows.catalog import QUEUE_COLUMNS, TILES, Shown
from windows.config import KpiConfig
from windows.reader import PipelineStats, WindowReader

Rows = Mapping[str, Mapping[str, float | None]]


def _past(rule: Rule, value: float | None) -> bool:
    if value is None:
        return False
    t = rule.threshold
    return {">": value > t, ">=": value >= t, "<": value < t, "<=": value <= t}[rule.comparison]


class WallModel:
    def __init__(self, reader: WindowReader, alerts: AlertStore, cfg: KpiConfig,
                 rules: Sequence[Rule], clock: Callable[[], float],
                 stale_after_s: float) -> None:
        self._reader = reader
        self._alerts = alerts
        self._cfg = cfg
        self._rules = list(rules)
        self._clock = clock
        self._stale_after_ms = int(stale_after_s * 1000)

    @property
    def windows(self) -> list[str]:
        return [w.name for w in self._cfg.windows]

    def _status(self, spec: Shown, dims: Mapping[str, str], value: float | None,
                alerts: Mapping[str, AlertState]) -> str:
        per = sorted(dims)
        status = "ok"
        for r in self._rules:
            if (r.kpi, r.statistic) != (spec.kpi, spec.statistic) or sorted(r.per) != per:
                continue
            state = alerts.get(alert_key(r.name, kpi.dimension_key(dict(dims), r.per)))
            if state is not None and state.status == "firing":
                return "firing"
            if (state is not None and state.status == "pending") or _past(r, value):
                status = "warn"
        return status

    def _cell(self, spec: Shown, row: Mapping[str, float | None],
              grow: Mapping[str, float | None], dims: Mapping[str, str],
              alerts: Mapping[str, AlertState]) -> dict[str, Any]:
        v = (grow if spec.live else row).get(spec.key)
        return {"id": spec.show.ident, "unit": spec.show.unit, "value": v,
                "status": self._status(spec, dims, v, alerts)}

    def snapshot(self, window: str) -> dict[str, Any]:
        w = self._cfg.window(window)
        now = int(self._clock() * 1000)
        rows = self._reader.window(w, now).rows
        gauges = self._reader.gauges(now)
        pipeline = self._reader.stats()
        alerts = self._alerts.read()
        floor, gfloor = rows.get("*", {}), gauges.get("*", {})
        tiles = [{**self._cell(spec, floor, gfloor, {}, alerts), "label": spec.show.title}
                 for spec in TILES]
        return {
            "window": w.name,
            "windows": self.windows,
            "at": now / 1000.0,
            **self._freshness(pipeline, w.length_ms, now),
            "tiles": tiles,
            "queue_columns": [{"id": c.show.ident, "label": c.show.title}
                              for c in QUEUE_COLUMNS],
            "queues": self._queues(rows, gauges, alerts),
            "alerts": _active(alerts),
        }

    def _queues(self, rows: Rows, gauges: Rows,
                alerts: Mapping[str, AlertState]) -> list[dict[str, Any]]:
        names = sorted({kpi.parse_dimension_key(k)["queue"] for k in [*rows, *gauges]
                        if set(kpi.parse_dimension_key(k)) == {"queue"}})
        out = []
        for q in names:
            row, grow = rows.get(f"queue={q}", {}), gauges.get(f"queue={q}", {})
            out.append({"queue": q, "cells": [self._cell(spec, row, grow, {"queue": q}, alerts)
                                              for spec in QUEUE_COLUMNS]})
        return out

    def _freshness(self, pipeline: PipelineStats, window_ms: int, now: int) -> dict[str, Any]:
        stats = pipeline.counters
        last = stats.get("last_applied_ms")
        return {
            "last_applied": last / 1000.0 if last else None,
            "last_event": stats["last_event_ms"] / 1000.0 if "last_event_ms" in stats else None,
            "stale": last is None or now - last > self._stale_after_ms,
            "stale_after": self._stale_after_ms / 1000.0,
            # event time before which this window lacks events (Redis lost its data);
            # None when complete, 0 when the store is not rebuilt yet
            "incomplete_before": None if pipeline.complete(window_ms, now)
            else (pipeline.lost_before_ms or 0) / 1000.0,
        }


def _active(alerts: Mapping[str, AlertState]) -> list[dict[str, Any]]:
    out = []
    for key, state in sorted(alerts.items()):
        if state.status in ("pending", "firing"):
            rule, dimkey = split_key(key)
            out.append({"rule": rule, "status": state.status, "severity": state.severity,
                        "value": state.value, "dimensions": kpi.parse_dimension_key(dimkey)})
    return out
