"""What the wall shows: tiles, a queue table, alerts and freshness, from the read side.

Built from the same reader as /metrics, so a tile and its series always agree; the tiles
and the queue columns are the ones the KPI catalog marks (:data:`kpi.catalog.TILES`,
:data:`kpi.catalog.QUEUE_COLUMNS`). Colours come from the alert rules: a tile is red
while a rule on its KPI is firing, amber while one is pending or its value is past a
rule's threshold, green otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.rules import Rule
from alerts.state import AlertState, past
from alerts.store import AlertStore, split_key
from kpi.catalog import QUEUE_COLUMNS, TILES, WITHIN_KEYS, Shown
from kpi.config import KpiConfig, WindowSpec
from kpi.dims import parse_dimension_key
from serve.trends import STEP_MS, TrendBook
from windows.reader import PipelineStats, ReadTime, WindowReader

Rows = Mapping[str, Mapping[str, float | None]]


class WallModel:
    def __init__(self, reader: WindowReader, alerts: AlertStore, cfg: KpiConfig,
                 rules: Sequence[Rule], stale_after_s: float, share_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic, min_samples: int = 0) -> None:
        """``min_samples``: below it a windowed value is shown greyed with its sample
        count (a CSAT of 100% from 2 responses is not news)."""
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
        self._share_s = share_s
        self._clock = clock
        self._min_samples = min_samples
        self._shared: _Live | None = None
        # window → (taken, rows, at, last applied batch when read)
        self._rows: dict[str, tuple[float, Rows, int, int | None]] = {}

        configured = {"": True, "calendars": bool(cfg.calendars.by_queue or cfg.calendars.default),
                      "policies": bool(cfg.policies.policies),
                      "customers": cfg.customer_kpis, "agents": cfg.agent_kpis}
        # what this floor shows: business-hours values only with calendars, SLA policy
        # achievement only with policies, repeat contacts only with the customer KPIs on
        self._tiles = [s for s in TILES if configured[s.show.when]]
        self._columns = [s for s in QUEUE_COLUMNS if configured[s.show.when]]

    @property
    def windows(self) -> list[str]:
        return [w.name for w in self._cfg.windows]

    def _title(self, key: str, title: str) -> str:
        """A per-horizon gauge names the horizon it counts (the longest): "At risk ≤15m"."""
        return f"{title} ≤{self._cfg.horizons[-1][0]}" if key in WITHIN_KEYS else title

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
                if rule != r.name or not _covers(parse_dimension_key(dimkey), dims):
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
        n = None if spec.samples_key is None else row.get(spec.samples_key)
        return {"id": spec.show.ident, "unit": spec.show.unit, "value": v,
                "status": self._status(spec, dims, v, alerts),
                "samples": n, "sparse": n is not None and n < self._min_samples}

    def _live(self) -> _Live:
        """The part of a snapshot no window changes (pipeline stats, the read clock, live
        gauges, alert states): read once per ``share_s`` for every window's snapshot."""
        with self._lock:
            cached = self._shared
            if cached is not None and self._clock() - cached.taken < self._share_s:
                return cached
        pipeline = self._reader.stats()
        t = self._reader.read_time(pipeline)
        live = _Live(self._clock(), pipeline, t, self._reader.gauges(t.live_ms, own_clocks=True),
                     self._alerts.read())
        with self._lock:
            self._shared = live
        return live

    def snapshot(self, window: str) -> dict[str, Any]:
        w = self._cfg.window(window)
        live = self._live()
        pipeline, t, gauges, alerts = live.pipeline, live.t, live.gauges, live.alerts
        now = t.window_end_ms
        rows, rows_at = self._window_rows(w, now, live)
        floor, gfloor = rows.get("*", {}), gauges.get("*", {})
        trends = self._trends(w, rows_at, t.live_ms, floor, gfloor)
        tiles = [{**self._cell(spec, floor, gfloor, {}, alerts),
                  "label": self._title(spec.key, spec.show.title),
                  "better": spec.show.better, "trend": trends[spec.key]}
                 for spec in self._tiles]
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
            "queue_columns": [{"id": c.show.ident,
                               "label": self._title(c.key, c.show.column_title)}
                              for c in self._columns],
            "queues": self._queues(rows, gauges, alerts),
            "alerts": active,
        }

    def refresh_s(self, w: WindowSpec) -> float:
        """How often a window's rows are read again: every push, but not more often than a
        thirtieth of its bucket (a 24h window's read decodes every field of 60 buckets:
        a third of a second of CPU for a number that moves slowly; a 15m window's is cheap
        and refreshes every push)."""
        return max(self._share_s, w.bucket_ms / 1000 / 30)

    def _window_rows(self, w: WindowSpec, now_ms: int, live: _Live) -> tuple[Rows, int]:
        """The window's rows (read again after :meth:`refresh_s`) and the time they are of;
        each fresh read also reads one missing sparkline point, so a cold wall completes
        its trends over its first refreshes instead of two hours of windows at once."""
        with self._lock:
            cached = self._rows.get(w.name)
        applied = live.pipeline.counters.get("last_applied_ms")
        # a flow that went quiet after the read: read once more, so the final numbers show
        # (and agree with /metrics) without waiting out the refresh
        settled = (applied is not None and applied != cached[3]
                   and live.t.now_ms - applied > self._share_s * 1000) if cached else False
        if cached is not None and not settled and \
                self._clock() - cached[0] < self.refresh_s(w):
            return cached[1], cached[2]
        rows = self._reader.window(w, now_ms).rows
        book = self._books[w.name]
        with self._lock:
            # newest first, but not the grid point the current value stands for
            missing = sorted((t for t in book.missing(now_ms) if t <= now_ms - STEP_MS),
                             reverse=True)[:1]
        points = {t: self._reader.window(w, t).rows.get("*", {}) for t in missing}
        with self._lock:
            for t, values in points.items():
                book.record(t, values)
            self._rows[w.name] = (self._clock(), rows, now_ms, applied)
        return rows, now_ms

    def _trends(self, w: WindowSpec, now_ms: int, live_ms: int, floor: Mapping[str, Any],
                gfloor: Mapping[str, Any]) -> dict[str, dict[str, list[float | None]]]:
        """The last two hours of every tile: windowed tiles from the points read from the
        store (one per 5-minute point), live tiles from what was sampled."""
        windowed = [s.key for s in self._tiles if not s.live]
        live = [s.key for s in self._tiles if s.live]
        with self._lock:
            book = self._books[w.name]
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
        gfloor = self._reader.gauges(t.live_ms, own_clocks=True).get("*", {})
        with self._lock:
            self._live_book.record(t.live_ms, gfloor)

    def _queues(self, rows: Rows, gauges: Rows,
                alerts: Mapping[str, AlertState]) -> list[dict[str, Any]]:
        names = sorted({parse_dimension_key(k)["queue"] for k in [*rows, *gauges]
                        if set(parse_dimension_key(k)) == {"queue"}})
        out = []
        for q in names:
            row, grow = rows.get(f"queue={q}", {}), gauges.get(f"queue={q}", {})
            out.append({"queue": q, "cells": [self._cell(spec, row, grow, {"queue": q}, alerts)
                                              for spec in self._columns]})
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


@dataclass(frozen=True)
class _Live:
    taken: float
    pipeline: PipelineStats
    t: ReadTime
    gauges: Rows
    alerts: Mapping[str, AlertState]


def _covers(alert_dims: Mapping[str, str], cell: Mapping[str, str]) -> bool:
    return all(alert_dims.get(d) == v for d, v in cell.items())


def _active(alerts: Mapping[str, AlertState]) -> list[dict[str, Any]]:
    out = []
    for key, state in sorted(alerts.items()):
        if state.status in ("pending", "firing"):
            rule, dimkey = split_key(key)
            out.append({"rule": rule, "status": state.status, "severity": state.severity,
                        "value": state.value, "dimensions": parse_dimension_key(dimkey)})
    return out
