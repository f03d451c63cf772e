"""Render the alert rules YAML into a Prometheus rule file over the exported metrics.

Teams that alert from Prometheus get the same rules: threshold, hysteresis (through the
``ALERTS`` series: once firing, the rule holds while the value is past the clear line),
minimum samples, ``for``, labels and templated annotations; the same alert name and
labels as the in-stream alert, and the same silence while the worker catches up. Plus
the rules a threshold alert cannot provide, because a dead exporter's series go stale
and threshold alerts simply go quiet: the pipeline is silent (no processed counter), no
batch was applied for a while, the consumer lags, Redis is down, and an always-firing
Watchdog for a dead-man's switch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from alerts.rules import PLACEHOLDER, Rule
from windows.config import ALL_DIMENSIONS


def _selector(rule: Rule, label_dims: Sequence[str], extra: dict[str, str]) -> str:
    """Every dimension pinned: the rule's own ``!="all"``, every other one ``="all"`` (or
    ``=~"all|"`` where it is not exported), so turning a dimension on (``agent``) adds no
    series to a rule."""
    parts = []
    if rule.window:
        parts.append(f'window="{rule.window}"')
    for d in ALL_DIMENSIONS:
        if d in rule.per:
            parts.append(f'{d}!="all"')
        else:
            parts.append(f'{d}="all"' if d in label_dims else f'{d}=~"all|"')
    parts += [f'{k}="{v}"' for k, v in extra.items()]
    return "{" + ",".join(parts) + "}"


def _line(rule: Rule) -> str:
    """``{threshold}`` in a Prometheus annotation: while hysteresis holds a firing alert
    (its value back past the threshold but not yet past ``clear``) the clear line, which
    is what it has to cross to resolve, as the in-stream summary says."""
    if rule.clear is None:
        return f"{rule.threshold:g}"
    op = {">": "gt", ">=": "ge", "<": "lt", "<=": "le"}[rule.comparison]
    return (f"{{{{ if {op} $value {float(rule.threshold)!r} }}}}{rule.threshold:g}"
            f"{{{{ else }}}}{rule.clear:g}{{{{ end }}}}")


def _annotation(text: str, rule: Rule) -> str:
    literal = {"threshold": _line(rule), "window": rule.window or "now",
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
    """The rule as PromQL over the exported series. It keeps exactly the labels of the
    in-stream alert (``window`` and the ``per`` dimensions; replicas and ``job`` or
    ``instance`` aggregated away), so with both paths on Alertmanager sees one alert, and
    it is silent while any worker is catching up on history."""
    stat = rule.stat
    by = ",".join((["window"] if rule.window else []) + list(rule.per))
    sel = _selector(rule, label_dims, dict(stat.extra))
    plain = _selector(rule, label_dims, {})
    value = f"max by ({by}) ({stat.metric}{sel})"
    if stat.divide_by:
        value = (f"(max by ({by}) ({stat.metric}{plain}) / "
                 f"max by ({by}) ({stat.divide_by}{plain}))")
    on = f"on({by})"
    cond = f"{value} {rule.comparison} {rule.threshold:g}"
    if rule.clear is not None:
        cond = (f"({cond}) or ({value} {rule.comparison} {rule.clear:g} and {on} "
                f'ALERTS{{alertname="{rule.name}",alertstate="firing"}})')
    if rule.min_samples and stat.samples_metric:
        cond = (f"({cond}) and {on} (max by ({by}) ({stat.samples_metric}{plain}) "
                f">= {rule.min_samples})")
    return f"({cond}) unless on() (max(support_catching_up) > 0)"


PIPELINE_RULES: list[dict[str, Any]] = [
    {"alert": "SupportPipelineSilent",
     "expr": "absent_over_time(support_events_processed_total[5m])",
     "for": "2m", "labels": {"severity": "page"},
     "annotations": {"summary": "No support KPI exporter has reported processed events for 5m "
                                "(workers down, or Prometheus cannot scrape them)."}},
    {"alert": "SupportEventsStale",
     "expr": "time() - max(support_last_applied_timestamp_seconds) > 900",
     "for": "5m", "labels": {"severity": "page"},
     "annotations": {"summary": "No batch of support events was applied for "
                                "{{ $value | humanizeDuration }}: the helpdesk feed or the "
                                "pipeline has stopped."}},
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
