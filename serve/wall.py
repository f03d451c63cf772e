"""What the wall shows: tiles, a queue table, alerts and freshness, from the read side.

Built from the same reader as /metrics, so a tile and its series always agree; the tiles
and the queue columns are the ones the KPI catalog marks (:data:`windows.catalog.TILES`,
:data:`windows.catalog.QUEUE_COLUMNS`). Colours come from the alert rules: a tile is red
while a rule on its KPI is firing, amber while one is pending or its value is past a
rule's threshold, green otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from alerts.rules import Rule
from alerts.state import AlertState, past
from alerts.store import AlertStore, split_key
from serve.trends import TrendBook
from windows import kpi
from windows.catalog import QUEUE_COLUMNS, TILES, Shown
from windows.config import KpiConfig, WindowSpec
from windows.reader import PipelineStats, ReadTime, WindowReader

Rows = Mapping[str, Mapping[str, float | None]]


class WallModel:
    def __init__(self, reader: WindowReader, alerts: AlertStore, cfg: KpiConfig,
                 rules: Sequence[Rule], stale_after_s: float) -> None:
        self._reader = reader
        self._alerts = alerts
        self._cfg = cfg
        self._rules = list(rules)
        self._stale_after_ms = int(stale_after_s * 1000)
        # one book per window for the windowed tiles, one for the live gauges (sampled);
        # snapshots of different windows run on different threads
        self._books = {w.name: TrendBook() for w in cfg.windows}
        self._live_book = TrendBook()
        self._lock = threading.Lock()

    @property
    def windows(self) -> list[str]:
        return [w.name for w in self._cfg.windows]

    def _status(self, spec: Shown, dims: Mapping[str, str], value: float | None,
                alerts: Mapping[str, AlertState]) -> str:
        """The worst state of any rule on this KPI whose alert covers the cell: a floor tile
        turns red while the rule fires in any queue, a queue cell while it fires for that
        queue (on any channel); amber while one is pending, or while the value itself is
        past the threshold of a rule over exactly these dimensions."""
        status = "ok"
        for r in self._rules:
            if (r.kpi, r.statistic) != (spec.kpi, spec.statistic):
                continue
            for key, state in alerts.items():
                rule, dimkey = split_key(key)
                if rule != r.name or not _covers(kpi.parse_dimension_key(dimkey), dims):
                    continue
                if state.status == "firing":
                    return "firing"
                if state.status == "pending":
                    status = "warn"
            if sorted(r.per) == sorted(dims) and value is not None and \
                    past(r.comparison, value, r.threshold):
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
        pipeline = self._reader.stats()
        t = self._reader.read_time(pipeline)
        now = t.window_end_ms
        rows = self._reader.window(w, now).rows
        gauges = self._reader.gauges(t.live_ms)
        alerts = self._alerts.read()
        floor, gfloor = rows.get("*", {}), gauges.get("*", {})
        trends = self._trends(w, now, t.live_ms, floor, gfloor)
        tiles = [{**self._cell(spec, floor, gfloor, {}, alerts), "label": spec.show.title,
                  "better": spec.show.better, "trend": trends[spec.key]} for spec in TILES]
        active = _active(alerts)
        return {
            "window": w.name,
            "windows": self.windows,
            "at": now / 1000.0,
            "catching_up": t.catching_up,
            "firing": sum(1 for a in active if a["status"] == "firing"),
            "pending": sum(1 for a in active if a["status"] == "pending"),
            **self._freshness(pipeline, w.length_ms, t),
            "tiles": tiles,
            "queue_columns": [{"id": c.show.ident, "label": c.show.title}
                              for c in QUEUE_COLUMNS],
            "queues": self._queues(rows, gauges, alerts),
            "alerts": active,
        }

    def _trends(self, w: WindowSpec, now_ms: int, live_ms: int, floor: Mapping[str, Any],
                gfloor: Mapping[str, Any]) -> dict[str, dict[str, list[float | None]]]:
        """The last two hours of every tile: windowed tiles read from the store once per
        5-minute point, live tiles from what was sampled."""
        def floor_at(t: int) -> Mapping[str, Any]:
            return self._reader.window(w, t).rows.get("*", {})

        windowed = [s.key for s in TILES if not s.live]
        live = [s.key for s in TILES if s.live]
        with self._lock:
            book = self._books[w.name]
            book.fill(now_ms, floor_at)
            self._live_book.record(live_ms, gfloor)
            return {**book.series(now_ms, windowed, floor),
                    **self._live_book.series(live_ms, live, gfloor)}

    def sample_live(self) -> None:
        """Record the live gauges for their sparklines (called every few seconds, so the
        trend is there before anyone opens the wall)."""
        t = self._reader.read_time()
        with self._lock:
            if self._live_book.has(t.live_ms):
                return  # one gauge read per 5-minute point, not per call
        gfloor = self._reader.gauges(t.live_ms).get("*", {})
        with self._lock:
            self._live_book.record(t.live_ms, gfloor)

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

    def _freshness(self, pipeline: PipelineStats, window_ms: int, t: ReadTime
                   ) -> dict[str, Any]:
        stats = pipeline.counters
        last = stats.get("last_applied_ms")
        now = t.now_ms
        return {
            "last_applied": last / 1000.0 if last else None,
            "last_event": stats["last_event_ms"] / 1000.0 if "last_event_ms" in stats else None,
            "stale": last is None or now - last > self._stale_after_ms,
            "stale_after": self._stale_after_ms / 1000.0,
            # event time before which this window lacks events (Redis lost its data);
            # None when complete, 0 when the store is not rebuilt yet
            "incomplete_before": None if pipeline.complete(window_ms, t.window_end_ms)
            else (pipeline.lost_before_ms or 0) / 1000.0,
        }


def _covers(alert_dims: Mapping[str, str], cell: Mapping[str, str]) -> bool:
    return all(alert_dims.get(d) == v for d, v in cell.items())


def _active(alerts: Mapping[str, AlertState]) -> list[dict[str, Any]]:
    out = []
    for key, state in sorted(alerts.items()):
        if state.status in ("pending", "firing"):
            rule, dimkey = split_key(key)
            out.append({"rule": rule, "status": state.status, "severity": state.severity,
                        "value": state.value, "dimensions": kpi.parse_dimension_key(dimkey)})
    return out
