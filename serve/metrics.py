"""Prometheus custom collector: reads the windows from Redis at scrape time.

Every replica serves the same global numbers because nothing is accumulated in the
process. ``describe()`` is implemented so that registering the collector never touches
Redis; ``collect()`` does one pipelined read per window plus one for the counters.
Windowed values are gauges of a sliding window (they go down as events leave it);
the summary's ``_sum``/``_count`` describe the window too, so do not ``rate()`` them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from alerts.state import STATE_VALUE
from alerts.store import AlertStore, split_key
from kpi import catalog
from kpi.agents import AGENT_TYPES
from kpi.config import KpiConfig
from kpi.dims import parse_dimension_key
from kpi.events import ALL
from kpi.kinds import within_key
from serve.exposition import RowLabels, TextFamily
from windows.reader import WindowReader, WindowSnapshot

log = logging.getLogger(__name__)

SUMMARIES = tuple(m for m in catalog.WINDOWED if isinstance(m, catalog.Duration))
GAUGES = tuple(m for m in catalog.WINDOWED
               if isinstance(m, catalog.Count | catalog.Ratio | catalog.Mean | catalog.NetScore))
VOLUMES = tuple(m for m in catalog.WINDOWED if isinstance(m, catalog.Volume))
# confidence bounds exported beside their KPI (Wilson intervals, the NPS margin)
EXTRAS = tuple(x for m in catalog.WINDOWED if isinstance(m, catalog.Ratio | catalog.NetScore)
               for x in m.extras())
# which KPI a late (dropped) event would have fed, for the late_dropped label
LATE_KPI = {
    "ticket.created": "volume", "chat.started": "volume", "ticket.assigned": "volume",
    "ticket.closed": "live_queue", "ticket.message": "first_response",
    "ticket.status_changed": "sla_policy",
    "chat.message": "first_response", "ticket.escalated": "escalation",
    "chat.handoff": "escalation", "chat.transferred": "escalation",
    "ticket.solved": "resolution", "chat.ended": "resolution", "ticket.reopened": "fcr",
    "survey.csat": "csat", "survey.nps": "nps", "survey.ces": "ces",
    **{t: "agents" for t in AGENT_TYPES},
}


class _FamiliesCollector(Collector):
    """A collector whose metric families are built empty by ``_families`` and filled at
    scrape time: ``describe`` returns them empty, so registering never touches Redis."""

    def _families(self) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self) -> Iterator[Metric]:
        yield from self._families().values()


class KpiCollector(_FamiliesCollector):
    """Every window, live-queue and alert-state series, read from Redis at scrape time.

    The expensive part of a scrape (it reads and rolls up every bucket of every window),
    kept apart from :class:`PipelineCollector` so that ``/metrics?name[]=...`` probes of
    the pipeline's health never pay for it. Every family comes from the KPI catalog.
    """

    def __init__(
        self,
        reader: WindowReader,
        cfg: KpiConfig,
        alerts: AlertStore | None = None,
        alert_dims: Sequence[str] = (),
        alert_rules: Sequence[str] = (),
    ) -> None:
        self._reader = reader
        self._cfg = cfg
        self._alerts = alerts
        self._dims = list(cfg.storage_dimensions)
        self._labels = ["window", *self._dims]
        self._gdims = list(cfg.gauge_dimensions)
        self._horizons = cfg.horizons
        # (within label, row key suffix): the longest repeat window is the plain row key
        self._repeats = [(name, name) for name, _ in cfg.repeat_shorter] + [
            (cfg.repeat_windows[-1][0], "")]
        self._alert_dims = list(alert_dims)
        self._alert_rules = set(alert_rules)

    # -- families -----------------------------------------------------------

    def _families(self) -> dict[str, Any]:
        fam: dict[str, Any] = {}
        for d in SUMMARIES:
            fam[d.metric] = TextFamily(d.metric, d.help, "summary")
        for g in catalog.LIVE:
            fam[g.metric] = TextFamily(g.metric, g.help, "gauge")
        fam["alert"] = TextFamily(
            "support_alert_state", "Alert state per rule and dimensions: 0 ok, 1 pending, "
            "2 firing.", "gauge")
        for m in (*GAUGES, *EXTRAS):
            fam[m.metric] = TextFamily(m.metric, m.help, "gauge")
        name, doc = catalog.VOLUME_EXPORT
        fam["volume"] = TextFamily(name, doc, "gauge")
        fam["folded"] = TextFamily(
            "support_series_folded",
            "Dimension combinations folded into 'other' by the series budget "
            "(SUPPORT_MAX_SERIES), per window ('live' for the live gauges).", "gauge")
        return fam

    def collect(self) -> Iterator[Metric]:
        fam = self._families()
        try:
            t = self._reader.read_time()
            # the live sets right after the read time, before the (slow) windows: ages are
            # measured to the clock read with them, so a first batch landing mid-scrape of
            # a year-old history cannot be aged by the wall clock
            gauges, live_folded = self._reader.live(t.live_ms, own_clocks=True)
            again = self._reader.read_time()
            if again.live_ms < t.live_ms:  # the first batch of a history landed meanwhile
                t = again
                gauges, live_folded = self._reader.live(t.live_ms, own_clocks=True)
            snapshots = self._reader.all_windows(t.window_end_ms)
            alerts = self._alerts.read() if self._alerts and self._alert_rules else {}
        except (redis.RedisError, OSError) as exc:
            # support_redis_up (PipelineCollector) reports the outage; no stale numbers
            log.warning("scrape could not read the windows from Redis: %s", exc)
            return
        for snap in snapshots:
            self._add_window(fam, snap)
            fam["folded"].add(RowLabels(["window"], [snap.window.name]).plain, snap.folded)
        fam["folded"].add(RowLabels(["window"], ["live"]).plain, live_folded)
        for dimkey in sorted(gauges):
            parsed = parse_dimension_key(dimkey)
            glabels = RowLabels(self._gdims, [parsed.get(d, ALL) for d in self._gdims])
            row = gauges[dimkey]
            for g in catalog.LIVE:
                if g.within:
                    for name, _ in self._horizons:
                        gv = row.get(within_key(g.key, name))
                        if gv is not None:
                            fam[g.metric].add(glabels.extra("within", name), float(gv))
                elif (gv := row.get(g.key)) is not None:
                    fam[g.metric].add(glabels.plain, float(gv))
        for key, state in sorted(alerts.items()):
            rule, dimkey = split_key(key)
            if rule not in self._alert_rules:
                continue
            dims = parse_dimension_key(dimkey)
            labels = RowLabels(["rule", "severity", *self._alert_dims],
                               [rule, state.severity, *(dims.get(d, ALL)
                                                        for d in self._alert_dims)])
            fam["alert"].add(labels.plain, STATE_VALUE[state.status])
        yield from fam.values()

    def _add_window(self, fam: dict[str, Any], snap: WindowSnapshot) -> None:
        for dimkey in sorted(snap.rows):
            row = snap.rows[dimkey]
            labels = self._label_values(snap.window.name, dimkey)
            if labels is None:
                continue
            for d in SUMMARIES:
                self._add_summary(fam[d.metric], labels, row, d)
            for m in (*GAUGES, *EXTRAS):
                if getattr(m, "within", False):  # one series per repeat window
                    for name, suffix in self._repeats:
                        v = row.get(within_key(m.key, suffix) if suffix else m.key)
                        if v is not None:
                            fam[m.metric].add(labels.extra("within", name), float(v))
                elif (v := row.get(m.key)) is not None:
                    fam[m.metric].add(labels.plain, float(v))
            for vol in VOLUMES:
                fam["volume"].add(labels.extra("kind", vol.kind), float(row[vol.key] or 0))

    def _label_values(self, window: str, dimkey: str) -> RowLabels | None:
        try:
            parsed = parse_dimension_key(dimkey)
        except ValueError:
            return None
        return RowLabels(self._labels, [window, *(parsed.get(d, ALL) for d in self._dims)])

    def _add_summary(self, metric: TextFamily, labels: RowLabels,
                     row: Mapping[str, float | None], d: catalog.Duration) -> None:
        count = row.get(f"{d.key}_count") or 0
        if d.sparse and not count:
            return
        for q in d.quantiles:
            v = row.get(d.quantile_key(q))
            if v is not None:
                metric.add(labels.extra("quantile", f"{q:g}"), float(v))
        metric.add(labels.plain, float(row.get(f"{d.key}_sum_seconds") or 0), "_sum")
        metric.add(labels.plain, float(count), "_count")


class PipelineCollector(_FamiliesCollector):
    """Pipeline health from the stats hash: counters, last event/apply times, offsets.

    One Redis read per scrape; ``support_redis_up`` says whether it (and so the scrape's
    KPI series) could be read.
    """

    def __init__(self, reader: WindowReader, topics: Sequence[str] = (),
                 refused: Callable[[], str] = lambda: "") -> None:
        """``refused`` says why this worker's last write was refused for the store's state
        ("" when it was not): a Redis at its memory limit answers INFO with a little room
        left while it refuses every batch."""
        self._reader = reader
        self._topics = list(topics)
        self._refused = refused

    def _families(self) -> dict[str, Any]:
        fam: dict[str, Any] = {}
        fam["overflow"] = CounterMetricFamily(
            "support_dimension_overflow",
            "Events whose conversation was labelled 'other' because its dimension already "
            "had the maximum number of distinct values.", labels=["dimension"])
        fam["processed"] = CounterMetricFamily(
            "support_events_processed", "Events applied to the windows, by topic.",
            labels=["topic"])
        fam["rejected"] = CounterMetricFamily(
            "support_events_rejected", "Invalid events sent to the dead-letter topic, by reason.",
            labels=["reason"])
        fam["contacts"] = CounterMetricFamily(
            "support_customer_contacts_applied",
            "Contact reports the customer path applied (conversations of identified "
            "customers whose start, completion, labels or eligibility changed), by topic.",
            labels=["topic"])
        fam["duplicate"] = CounterMetricFamily(
            "support_events_duplicate", "Upstream duplicate events (same event_id) skipped.")
        fam["late"] = CounterMetricFamily(
            "support_events_late_dropped",
            "Events older than the allowed lateness, dropped; by event type and the KPI it "
            "would have fed.", labels=["type", "kpi"])
        fam["last_event"] = GaugeMetricFamily(
            "support_last_event_timestamp_seconds",
            "Highest occurred_at applied to the windows (event time).")
        fam["last_applied"] = GaugeMetricFamily(
            "support_last_applied_timestamp_seconds",
            "Wall-clock time of the last batch applied to the windows.")
        fam["offset"] = GaugeMetricFamily(
            "support_applied_offset", "Last Kafka offset applied, per partition.",
            labels=["topic", "partition"])
        fam["redis_up"] = GaugeMetricFamily(
            "support_redis_up", "1 when the exporter could read Redis at this scrape and "
            "Redis takes writes; 0 when it is down, loading, a read-only replica or out of "
            "memory (the workers then wait, and nothing is dead-lettered for it).")
        fam["evicting"] = GaugeMetricFamily(
            "support_redis_evicting",
            "1 while Redis would evict the store's keys (a maxmemory-policy other than "
            "noeviction) or a worker refuses to write because keys were evicted: nothing is "
            "counted until the policy is noeviction again (then a store that lost keys is "
            "rebuilt from Kafka).")
        fam["rewinds"] = CounterMetricFamily(
            "support_store_rewinds",
            "Times the store was found behind what a worker had applied (Redis restored from "
            "an older snapshot, or failed over to a lagging replica); the missing offsets "
            "were re-applied from Kafka.", labels=["topic", "partition"])
        fam["rewound"] = CounterMetricFamily(
            "support_store_rewound_offsets",
            "Offsets re-applied from Kafka after the store went back in time.",
            labels=["topic", "partition"])
        fam["complete"] = GaugeMetricFamily(
            "support_store_complete",
            "1 when the window can hold every event sent in it; 0 after Redis lost its data "
            "(flushed, restarted without persistence) until the rebuild covers the window.",
            labels=["window"])
        fam["catching_up"] = GaugeMetricFamily(
            "support_catching_up",
            "1 while the worker applies history (a replay, a backfill, a rebuild, a backlog): "
            "the event-time watermark trails the wall clock by more than "
            "SUPPORT_CATCH_UP_AFTER. Live ages are then measured against the event time, "
            "and alerts do not page.")
        fam["event_clock"] = GaugeMetricFamily(
            "support_event_clock_timestamp_seconds",
            "The event clock: the event-time watermark carried forward at wall-clock speed "
            "since it was applied (the wall clock on a live floor).")
        fam["lost_offsets"] = GaugeMetricFamily(
            "support_store_lost_offsets",
            "Offsets of a partition the store lost (Redis restored or rolled back) that Kafka "
            "no longer held when they were to be re-applied: events missing from the windows "
            "until the longest window has slid past the loss.",
            labels=["partition", "first", "last"])
        fam["lost_before"] = GaugeMetricFamily(
            "support_store_lost_before_timestamp_seconds",
            "Event time before which the windows may lack events since Redis lost its data "
            "(0: nothing missing).")
        return fam

    def collect(self) -> Iterator[Metric]:
        fam = self._families()
        try:
            stats = self._reader.stats()
        except (redis.RedisError, OSError) as exc:
            log.warning("scrape could not read Redis: %s", exc)
            fam["redis_up"].add_metric([], 0)
            yield fam["redis_up"]
            return
        c = stats.counters
        topics = set(self._topics)
        for k, v in sorted(c.items()):
            kind, _, rest = k.partition(":")
            if kind == "processed":
                topics.discard(rest)
                fam["processed"].add_metric([rest], v)
            elif kind == "rejected":
                fam["rejected"].add_metric([rest], v)
            elif kind == "late":
                fam["late"].add_metric([rest, LATE_KPI.get(rest, "other")], v)
            elif kind == "overflow":
                fam["overflow"].add_metric([rest], v)
            elif kind == "contacts":
                fam["contacts"].add_metric([rest], v)
            elif kind in ("rewind", "rewound"):
                topic, _, part = rest.rpartition(":")
                fam["rewinds" if kind == "rewind" else "rewound"].add_metric([topic, part], v)
        for t in sorted(topics):
            fam["processed"].add_metric([t], 0)
        fam["duplicate"].add_metric([], c.get("duplicate:event_id", 0))
        if "last_event_ms" in c:
            fam["last_event"].add_metric([], c["last_event_ms"] / 1000.0)
        if "last_applied_ms" in c:
            fam["last_applied"].add_metric([], c["last_applied_ms"] / 1000.0)
        for field, off in sorted(stats.offsets.items()):
            topic, _, part = field.rpartition(":")
            fam["offset"].add_metric([topic, part], off)
        refused = self._refused()
        fam["redis_up"].add_metric([], 0 if stats.unwritable or refused else 1)
        fam["evicting"].add_metric([], int("evicts" in stats.unwritable
                                           or refused in ("eviction_policy", "evicted_keys")))
        rt = self._reader.read_time(stats)
        fam["catching_up"].add_metric([], int(rt.catching_up))
        fam["event_clock"].add_metric([], rt.event_ms / 1000.0)
        now_ms = rt.window_end_ms
        for w in self._reader.config.windows:
            fam["complete"].add_metric([w.name], int(stats.complete(w.length_ms, now_ms)))
        lost = stats.lost_before_ms
        fam["lost_before"].add_metric([], (now_ms if lost is None else lost) / 1000.0)
        longest = max(w.length_ms for w in self._reader.config.windows)
        if not stats.complete(longest, now_ms):
            for field, first, last in stats.lost_ranges():
                fam["lost_offsets"].add_metric([field, str(first), str(last)], last - first + 1)
        yield from fam.values()
