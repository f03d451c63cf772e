"""serve.exposition writes what prometheus_client's generate_latest writes, byte for byte:
on plain collectors with hostile label values and special numbers, and on the KPI
exporter's own text families (read back by prometheus_client's parser and written again
by generate_latest)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Summary, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from serve.exposition import render
from serve.metrics import KpiCollector, PipelineCollector
from tests.unit.serve.fixed import CFG, FixedAlerts, FixedReader


class Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def test_plain_collectors_with_hostile_values_are_the_same_bytes() -> None:
    registry = CollectorRegistry()
    g = Gauge("x_gauge", "a gauge\nwith a \\ line", ["queue", "channel"], registry=registry)
    for v in ['billing', 'quo"te', 'back\\slash', 'new\nline', 'ünïcode', '']:
        g.labels(v, "all").set(1.5)
    Counter("x_events", "counted", ["reason"], registry=registry).labels("bad").inc(3)
    Summary("x_latency", "summary", registry=registry).observe(0.25)
    fam = GaugeMetricFamily("x_special", "specials", labels=["k"])
    for k, v in [("inf", math.inf), ("minf", -math.inf), ("nan", math.nan),
                 ("big", 1.7e12), ("tiny", 1e-9), ("int", 3.0), ("neg", -2.5)]:
        fam.add_metric([k], v)
    registry.register(Families([fam]))
    assert render(registry.collect()) == generate_latest(registry)


@given(st.lists(st.tuples(st.text(max_size=12), st.floats(allow_nan=False)), max_size=20))
@settings(max_examples=200, deadline=None)
def test_any_label_value_and_number_is_written_as_generate_latest_writes_it(
        rows: list[tuple[str, float]]) -> None:
    fam = GaugeMetricFamily("x_any", "any", labels=["v", "i"])
    for i, (v, n) in enumerate(rows):
        fam.add_metric([v, str(i)], n)
    registry = CollectorRegistry()
    registry.register(Families([fam]))
    assert render(registry.collect()) == generate_latest(registry)


def test_the_kpi_exporters_text_is_what_generate_latest_would_write() -> None:
    """Every KPI family (windows, summaries, volumes, live gauges with horizons, alert
    states), read back by prometheus_client's parser and written again by
    generate_latest: the same bytes."""
    from alerts.state import AlertState

    registry = CollectorRegistry(auto_describe=True)
    reader = FixedReader()
    alerts = FixedAlerts({"EscHigh|queue=billing": AlertState(status="firing",
                                                              severity="page")})
    registry.register(KpiCollector(reader, CFG, alerts,  # type: ignore[arg-type]
                                   alert_dims=["queue"], alert_rules=["EscHigh"]))
    registry.register(PipelineCollector(reader, topics=["tickets"]))  # type: ignore[arg-type]
    ours = render(registry.collect())
    assert b'quantile="0.9"' in ours and b'support_alert_state{' in ours
    again = CollectorRegistry()
    again.register(Families(list(text_string_to_metric_families(ours.decode()))))
    assert generate_latest(again) == ours
