"""Render the alert rules YAML into a Prometheus rule file over the exported metrics.

Teams that alert from Prometheus get the same rules: threshold, hysteresis (through the
``ALERTS`` series: once firing, the rule holds while the value is past the clear line),
minimum samples, ``for``, labels and templated annotations. Plus the rules a threshold
alert cannot provide, because a dead exporter's series go stale and threshold alerts
simply go quiet: the pipeline is silent (no processed counter), the events are stale,
the consumer lags, Redis is down, and an always-firing Watchdog for a dead-man's switch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from alerts.rules import PLACEHOLDER, Rule


def _selector(rule: Rule, label_dims: Sequence[str], extra: dict[str, str]) -> str:
    parts = []
    if rule.window:
        parts.append(f'window="{rule.window}"')
    for d in label_dims:
        parts.append(f'{d}!="all"' if d in rule.per else f'{d}="all"')
    parts += [f'{k}="{v}"' for k, v in extra.items()]
    return "{" + ",".join(parts) + "}"


def _annotation(text: str, rule: Rule) -> str:
    literal = {"threshold": f"{rule.threshold:g}", "window": rule.window or "now",
               "rule": rule.name, "severity": rule.severity, "comparison": rule.comparison}

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "value":
            return "{{ $value | printf \"%.4g\" }}"
        if name in literal:
            return literal[name]
        return "{{ $labels.%s }}" % name  # noqa: UP031 - Go template braces

    return PLACEHOLDER.sub(sub, text)


def rule_expr(rule: Rule, label_dims: Sequence[str]) -> str:
    stat = rule.stat
    extra = dict(stat.extra)
    sel = _selector(rule, label_dims, extra)
    plain = _selector(rule, label_dims, {})
    value = f"{stat.metric}{sel}"
    if stat.divide_by:
        value = f"({stat.metric}{plain} / {stat.divide_by}{plain})"
    on = "on(" + ",".join((["window"] if rule.window else []) + list(label_dims)) + ")"
    cond = f"{value} {rule.comparison} {rule.threshold:g}"
    if rule.clear is not None:
        cond = (f"({cond}) or ({value} {rule.comparison} {rule.clear:g} and {on} "
                f'ALERTS{{alertname="{rule.name}",alertstate="firing"}})')
    if rule.min_samples and stat.samples_metric:
        cond = f"({cond}) and {on} ({stat.samples_metric}{plain} >= {rule.min_samples})"
    return cond


PIPELINE_RULES: list[dict[str, Any]] = [
    {"alert": "SupportPipelineSilent",
     "expr": "absent_over_time(support_events_processed_total[5m])",
     "for": "2m", "labels": {"severity": "page"},
     "annotations": {"summary": "No support KPI exporter has reported processed events for 5m "
                                "(workers down, or Prometheus cannot scrape them)."}},
    {"alert": "SupportEventsStale",
     "expr": "time() - max(support_last_event_timestamp_seconds) > 900",
     "for": "5m", "labels": {"severity": "page"},
     "annotations": {"summary": "The newest support event is {{ $value | humanizeDuration }} "
                                "old: the helpdesk feed or the pipeline has stopped."}},
    {"alert": "SupportConsumerLag",
     "expr": "sum by (topic) (support_consumer_lag_messages) > 10000",
     "for": "5m", "labels": {"severity": "warning"},
     "annotations": {"summary": "Workers are {{ $value }} messages behind on "
                                "{{ $labels.topic }}: the wall shows old numbers."}},
    {"alert": "SupportRedisDown",
     "expr": "min(support_redis_up) == 0",
     "for": "1m", "labels": {"severity": "page"},
     "annotations": {"summary": "The KPI exporter cannot read Redis."}},
    {"alert": "SupportStoreIncomplete",
     "expr": "min by (window) (support_store_complete) == 0",
     "for": "2m", "labels": {"severity": "warning"},
     "annotations": {"summary": "The {{ $labels.window }} window lacks events: Redis lost its "
                                "data and the rebuild does not reach back that far (see "
                                "support_store_lost_before_timestamp_seconds)."}},
    {"alert": "Watchdog",
     "expr": "vector(1)",
     "labels": {"severity": "none"},
     "annotations": {"summary": "Always firing: feeds an external dead-man's switch; if it "
                                "stops arriving, alerting itself is broken."}},
]


def render(rules: Sequence[Rule], window_dims: Sequence[str], gauge_dims: Sequence[str]) -> str:
    kpi_rules = []
    for r in rules:
        dims = gauge_dims if r.live else window_dims
        item: dict[str, Any] = {"alert": r.name, "expr": rule_expr(r, dims)}
        if r.for_ms:
            item["for"] = r.for_
        item["labels"] = {"severity": r.severity, **r.labels}
        item["annotations"] = {"summary": _annotation(r.summary, r)}
        if r.description:
            item["annotations"]["description"] = _annotation(r.description, r)
        kpi_rules.append(item)
    doc = {"groups": [
        {"name": "support-kpi", "rules": kpi_rules},
        {"name": "support-pipeline", "rules": PIPELINE_RULES},
    ]}
    header = ("# Generated by `support-kpi alerts render` from the alert rules YAML.\n"
              "# Do not edit: change the rules file and render again.\n")
    return header + yaml.safe_dump(doc, sort_keys=False, width=120)
