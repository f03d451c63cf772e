"""Prometheus custom collector: reads the windows from Redis at scrape time.

Every replica serves the same global numbers because nothing is accumulated in the
process. ``describe()`` is implemented so that registering the collector never touches
Redis; ``collect()`` does one pipelined read per window plus one for the counters.
Windowed values are gauges of a sliding window (they go down as events leave it);
the summary's ``_sum``/``_count`` describe the window too, so do not ``rate()`` them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from windows import kpi
from windows.config import KpiConfig
from windows.reader import WindowReader

log = logging.getLogger(__name__)

ALL = "all"

GAUGES: tuple[tuple[str, str, str], ...] = (
    ("support_first_response_sla_ratio", "frt_sla_ratio",
     "Share of first responses within the SLA target, in the window."),
    ("support_completed_conversations", "completed",
     "Conversations solved or ended (first completion) in the window."),
    ("support_fcr_conversations", "fcr_resolved",
     "Completed conversations resolved at first contact, in the window."),
    ("support_fcr_ratio", "fcr_ratio",
     "First contact resolution: FCR conversations / completed conversations."),
    ("support_escalated_conversations", "escalated_completed",
     "Completed conversations that were escalated, handed off or transferred."),
    ("support_escalation_ratio", "escalation_ratio",
     "Escalated (incl. handoff/transfer) completed conversations / completed conversations."),
    ("support_csat_responses", "csat_responses", "CSAT survey responses in the window."),
    ("support_csat_satisfied_responses", "csat_satisfied",
     "CSAT responses at or above the satisfied score."),
    ("support_csat_ratio", "csat_ratio", "CSAT: satisfied responses / responses."),
    ("support_csat_score_mean", "csat_mean", "Mean CSAT score in the window."),
    ("support_nps_score", "nps_score", "NPS: % promoters - % detractors (-100..100)."),
    ("support_nps_responses", "nps_responses", "NPS survey responses in the window."),
    ("support_ces_score_mean", "ces_mean", "Mean customer effort score in the window."),
    ("support_ces_responses", "ces_responses", "CES survey responses in the window."),
)
GAUGES += (
    ("support_queued_conversations", "queued",
     "Conversations that entered the human queue in the window (tickets at creation, chats "
     "at handoff)."),
    ("support_abandoned_conversations", "abandoned",
     "Conversations that ended while still waiting for a first human reply."),
    ("support_abandonment_ratio", "abandonment_ratio",
     "Abandoned conversations / conversations that entered the human queue."),
    ("support_chat_conversations", "chats_started", "Chats started in the window."),
    ("support_chat_handoffs", "handoffs", "Chats handed off from the bot to a human."),
    ("support_chat_handoff_ratio", "handoff_ratio", "Bot-to-human handoffs / chats started."),
)
# (metric, summary key prefix, quantile attribute of KpiConfig, help)
SUMMARIES: tuple[tuple[str, str, str, str], ...] = (
    ("support_first_response_seconds", "frt", "quantiles_frt",
     "First response time (created/started to first human agent reply), sliding window; "
     "quantiles within 2% relative error."),
    ("support_resolution_seconds", "resolution", "quantiles_resolution",
     "Resolution time (created to first solved/ended), sliding window."),
    ("support_response_seconds", "response", "quantiles_other",
     "Response time: each human reply to a pending customer message, from the oldest "
     "unanswered customer message."),
    ("support_bot_time_seconds", "bot_time", "quantiles_other",
     "Time a chat spent with the bot before its first handoff to a human."),
    ("support_first_response_after_handoff_seconds", "frt_after_handoff", "quantiles_other",
     "Time from a chat's first handoff to the first human reply."),
)
LIVE: tuple[tuple[str, str, str], ...] = (
    ("support_open_conversations", "open", "Open conversations now."),
    ("support_waiting_conversations", "waiting",
     "Open conversations waiting for a first human response now."),
    ("support_oldest_waiting_seconds", "oldest_waiting_seconds",
     "Age of the oldest conversation waiting for a first human response."),
    ("support_sla_breaching_conversations", "breaching",
     "Waiting conversations already past their first-response target."),
)
VOLUMES = ("created", "solved", "reopened", "escalated")
# which KPI a late (dropped) event would have fed, for the late_dropped label
LATE_KPI = {
    "ticket.created": "volume", "chat.started": "volume", "ticket.assigned": "volume",
    "ticket.closed": "live_queue", "ticket.message": "first_response",
    "chat.message": "first_response", "ticket.escalated": "escalation",
    "chat.handoff": "escalation", "chat.transferred": "escalation",
    "ticket.solved": "resolution", "chat.ended": "resolution", "ticket.reopened": "fcr",
    "survey.csat": "csat", "survey.nps": "nps", "survey.ces": "ces",
}


def _fmt_q(q: float) -> str:
    return f"{q:g}"


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
    the pipeline's health never pay for it.
    """

    def __init__(
        self,
        reader: WindowReader,
        cfg: KpiConfig,
        clock: Callable[[], float],
        alert_dims: Sequence[str] = (),
        alert_rules: Sequence[str] = (),
    ) -> None:
        self._reader = reader
        self._cfg = cfg
        self._clock = clock
        self._dims = list(cfg.storage_dimensions)
        self._labels = ["window", *self._dims]
        self._gdims = list(cfg.gauge_dimensions)
        self._alert_dims = list(alert_dims)
        self._alert_rules = set(alert_rules)

    # -- families -----------------------------------------------------------

    def _families(self) -> dict[str, Any]:
        L = self._labels
        fam: dict[str, Any] = {}
        for name, _prefix, _q, doc in SUMMARIES:
            fam[name] = Metric(name, doc, "summary")
        for name, _key, doc in LIVE:
            fam[name] = GaugeMetricFamily(name, doc, labels=self._gdims)
        fam["alert"] = GaugeMetricFamily(
            "support_alert_state", "Alert state per rule and dimensions: 0 ok, 1 pending, "
            "2 firing.", labels=["rule", "severity", *self._alert_dims])
        for name, _key, doc in GAUGES:
            fam[name] = GaugeMetricFamily(name, doc, labels=L)
        fam["volume"] = GaugeMetricFamily(
            "support_window_events", "Events in the window by kind (created, solved, reopened, "
            "escalated incl. handoffs and transfers).", labels=[*L, "kind"])
        return fam

    def collect(self) -> Iterator[Metric]:
        fam = self._families()
        try:
            at_ms = int(self._clock() * 1000)
            snapshots = self._reader.all_windows(at_ms)
            gauges = self._reader.gauges(at_ms)
            alerts = self._reader.alert_states() if self._alert_rules else {}
        except (redis.RedisError, OSError) as exc:
            # support_redis_up (PipelineCollector) reports the outage; no stale numbers
            log.warning("scrape could not read the windows from Redis: %s", exc)
            return
        for snap in snapshots:
            for dimkey in sorted(snap.rows):
                row = snap.rows[dimkey]
                labels = self._label_values(snap.window.name, dimkey)
                if labels is None:
                    continue
                for name, prefix, qattr, _doc in SUMMARIES:
                    self._add_summary(fam[name], labels, row, prefix, getattr(self._cfg, qattr))
                for name, key, _doc in GAUGES:
                    v = row.get(key)
                    if v is not None:
                        fam[name].add_metric(labels, float(v))
                for kind in VOLUMES:
                    fam["volume"].add_metric([*labels, kind], float(row[f"volume_{kind}"] or 0))
        for dimkey in sorted(gauges):
            parsed = kpi.parse_dimension_key(dimkey)
            glabels = [parsed.get(d, ALL) for d in self._gdims]
            for name, key, _doc in LIVE:
                gv = gauges[dimkey].get(key)
                if gv is not None:
                    fam[name].add_metric(glabels, float(gv))
        for key, doc in sorted(alerts.items()):
            rule, _, dimkey = key.partition("|")
            if rule not in self._alert_rules:
                continue
            dims = kpi.parse_dimension_key(dimkey)
            value = {"ok": 0, "pending": 1, "firing": 2}.get(str(doc.get("status")), 0)
            fam["alert"].add_metric([rule, str(doc.get("severity", "")),
                                     *(dims.get(d, ALL) for d in self._alert_dims)], value)
        yield from fam.values()

    def _label_values(self, window: str, dimkey: str) -> list[str] | None:
        try:
            parsed = kpi.parse_dimension_key(dimkey)
        except ValueError:
            return None
        return [window, *(parsed.get(d, ALL) for d in self._dims)]

    def _add_summary(
        self,
        metric: Metric,
        labels: list[str],
        row: Mapping[str, float | None],
        prefix: str,
        quantiles: Sequence[float],
    ) -> None:
        count = row.get(f"{prefix}_count") or 0
        names = dict(zip(self._labels, labels, strict=True))
        for q in quantiles:
            v = row.get(f"{prefix}_p{kpi._qname(q)}_seconds")
            if v is not None:
                metric.add_sample(metric.name, {**names, "quantile": _fmt_q(q)}, float(v))
        metric.add_sample(metric.name + "_sum", names, float(row.get(f"{prefix}_sum_seconds") or 0))
        metric.add_sample(metric.name + "_count", names, float(count))


class PipelineCollector(_FamiliesCollector):
    """Pipeline health from the stats hash: counters, last event/apply times, offsets.

    One Redis read per scrape; ``support_redis_up`` says whether it (and so the scrape's
    KPI series) could be read.
    """

    def __init__(self, reader: WindowReader, topics: Sequence[str] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self._reader = reader
        self._topics = list(topics)
        self._clock = clock

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
            "support_redis_up", "1 when the exporter could read Redis at this scrape.")
        fam["complete"] = GaugeMetricFamily(
            "support_store_complete",
            "1 when the window can hold every event sent in it; 0 after Redis lost its data "
            "(flushed, restarted without persistence) until the rebuild covers the window.",
            labels=["window"])
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
        fam["redis_up"].add_metric([], 1)
        now_ms = int(self._clock() * 1000)
        for w in self._reader.config.windows:
            fam["complete"].add_metric([w.name], int(stats.complete(w.length_ms, now_ms)))
        lost = stats.lost_before_ms
        fam["lost_before"].add_metric([], (now_ms if lost is None else lost) / 1000.0)
        yield from fam.values()
