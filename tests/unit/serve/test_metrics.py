"""The Prometheus collectors on a fixed read side: every value as the catalog defines it,
labels with ``all`` for aggregated dimensions, alert states, pipeline counters, and a
clean ``promtool check metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from alerts.state import AlertState
from kpi import catalog
from serve.exposition import render
from serve.metrics import KpiCollector, PipelineCollector
from tests.support import parse, promtool_check_metrics, sample
from tests.unit.serve.fixed import CFG, NOW_MS, FixedAlerts, FixedReader


def scrape(alerts: FixedAlerts | None = None) -> str:
    registry = CollectorRegistry(auto_describe=True)
    reader = FixedReader()
    registry.register(KpiCollector(reader, CFG, alerts,  # type: ignore[arg-type]
                                   alert_dims=["queue"], alert_rules=["EscHigh"]))
    registry.register(PipelineCollector(reader,  # type: ignore[arg-type]
                                        topics=["tickets", "chats"]))
    return render(registry.collect()).decode()


def test_window_values_follow_their_definitions() -> None:
    s = parse(scrape())
    billing = {"window": "1h", "queue": "billing", "channel": "all"}
    assert sample(s, "support_fcr_ratio", **billing) == 1 / 4
    assert sample(s, "support_escalation_ratio", **billing) == 3 / 4
    assert sample(s, "support_csat_ratio", **billing) == 1 / 2
    assert sample(s, "support_csat_score_mean", **billing) == 3.5
    assert sample(s, "support_first_response_seconds_count", **billing) == 2
    assert sample(s, "support_first_response_seconds_sum", **billing) == 120
    assert sample(s, "support_window_events", **billing, kind="created") == 4
    q90 = sample(s, "support_first_response_seconds", **billing, quantile="0.9")
    assert q90 is not None and abs(q90 - 90) / 90 <= 0.02


def test_a_ratio_without_denominator_is_absent_and_counts_are_zero() -> None:
    s = parse(scrape())
    tech = {"window": "5m", "queue": "tech", "channel": "all"}
    assert sample(s, "support_fcr_ratio", **tech) is None
    assert sample(s, "support_completed_conversations", **tech) == 0
    assert sample(s, "support_window_events", **tech, kind="created") == 1


def test_every_catalog_series_is_a_family_of_the_collector() -> None:
    described = {f.name for f in KpiCollector(FixedReader(), CFG).describe()}  # type: ignore[arg-type]
    wanted = {m.metric for m in catalog.WINDOWED if not isinstance(m, catalog.Volume)}
    wanted |= {g.metric for g in catalog.LIVE} | {catalog.VOLUME_EXPORT[0]}
    assert wanted <= described, wanted - described


def test_live_gauges_and_alert_states() -> None:
    alerts = FixedAlerts({"EscHigh|queue=billing": AlertState(status="firing", severity="page"),
                          "Gone|*": AlertState(status="firing", severity="page")})
    s = parse(scrape(alerts))
    assert sample(s, "support_waiting_conversations", queue="tech", channel="all") == 1
    assert sample(s, "support_oldest_waiting_seconds", queue="all", channel="all") == 125
    assert sample(s, "support_alert_state", rule="EscHigh", severity="page",
                  queue="billing") == 2
    assert not [k for k in s if k[0] == "support_alert_state" and ("rule", "Gone") in k[1]]


def test_pipeline_counters() -> None:
    s = parse(scrape())
    assert sample(s, "support_events_processed_total", topic="tickets") == 10
    assert sample(s, "support_events_processed_total", topic="chats") == 0
    assert sample(s, "support_events_rejected_total", reason="not_json") == 2
    assert sample(s, "support_events_late_dropped_total", type="ticket.message",
                  kpi="first_response") == 1
    assert sample(s, "support_events_duplicate_total") == 4
    assert sample(s, "support_redis_up") == 1
    assert sample(s, "support_store_complete", window="1h") == 1
    assert sample(s, "support_applied_offset", topic="tickets", partition="0") == 9


def test_exposition_passes_promtool() -> None:
    promtool_check_metrics(scrape(FixedAlerts()))


def test_while_catching_up_live_ages_are_measured_at_the_event_clock() -> None:
    history = NOW_MS - 16 * 365 * 86_400_000
    reader = FixedReader(last_applied_ms=NOW_MS - 1000, last_event_ms=history)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(KpiCollector(reader, CFG))  # type: ignore[arg-type]
    registry.register(PipelineCollector(reader))  # type: ignore[arg-type]
    s = parse(render(registry.collect()).decode())
    assert reader.gauges_at == [history + 1000]
    assert sample(s, "support_catching_up") == 1
    assert sample(s, "support_event_clock_timestamp_seconds") == (history + 1000) / 1000
    live = FixedReader()
    registry = CollectorRegistry(auto_describe=True)
    registry.register(PipelineCollector(live))  # type: ignore[arg-type]
    assert sample(parse(render(registry.collect()).decode()), "support_catching_up") == 0
