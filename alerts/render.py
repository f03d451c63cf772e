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

from alerts.rules import PLACEHOLDER, BurnRate, Rule, Slo, format_value
from kpi.config import ALL_DIMENSIONS


def _selector(rule: Rule | Slo, label_dims: Sequence[str], extra: dict[str, str],
              window: str | None = None) -> str:
    """Every dimension pinned: the rule's own ``!="all"``, every other one ``="all"`` (or
    ``=~"all|"`` where it is not exported), so turning a dimension on (``agent``) adds no
    series to a rule."""
    parts = []
    window = window or getattr(rule, "window", None)
    if window:
        parts.append(f'window="{window}"')
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
    threshold = format_value(rule.threshold, rule.unit)
    if rule.clear is None:
        return threshold
    op = {">": "gt", ">=": "ge", "<": "lt", "<=": "le"}[rule.comparison]
    return (f"{{{{ if {op} $value {float(rule.threshold)!r} }}}}{threshold}"
            f"{{{{ else }}}}{format_value(rule.clear, rule.unit)}{{{{ end }}}}")


# how a rendered annotation prints {value}: as the in-stream text does (alerts.rules.
# format_value), with Prometheus' template functions
VALUE = {"duration": "{{ $value | humanizeDuration }}",
         "ratio": "{{ $value | humanizePercentage }}",
         "number": "{{ $value | printf \"%.4g\" }}"}


def _annotation(text: str, rule: Rule) -> str:
    literal = {"threshold": _line(rule), "window": rule.window or "now",
               "rule": rule.name, "severity": rule.severity, "comparison": rule.comparison}

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "value":
            return VALUE[rule.unit]
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
    firing = f'max by ({by}) (ALERTS{{alertname="{rule.name}",alertstate="firing"}})'
    cond = f"{value} {rule.comparison} {rule.threshold:g}"
    if rule.clear is not None:
        cond = f"({cond}) or ({value} {rule.comparison} {rule.clear:g} and {on} {firing})"
    present = value
    if rule.min_samples and stat.samples_metric:
        enough = f"(max by ({by}) ({stat.samples_metric}{plain}) >= {rule.min_samples})"
        cond = f"({cond}) and {on} {enough}"
        present = f"({value} and {on} {enough})"
    if rule.no_data == "keep":
        # no data keeps a firing alert firing, as the in-stream state machine does
        # (alerts.state): one truth whichever path pages. Its value is NaN, which the
        # annotation reads as "no data now" (NaN is the one value not equal to itself).
        cond = f"({cond}) or ({firing} * NaN unless {on} {present})"
    return f"({cond}) unless on() (max(support_catching_up) > 0)"


def _no_data(text: str, rule: Rule) -> str:
    """An annotation that reads as the in-stream one when the value is absent (NaN: a
    firing alert kept through no data)."""
    if rule.no_data != "keep":
        return text
    where = ", ".join(f"{d}={{{{ $labels.{d} }}}}" for d in rule.per) or "the floor"
    return (f"{{{{ if eq $value $value }}}}{text}{{{{ else }}}}{rule.name} ({where}): "
            "no data now, nothing to measure{{ end }}")


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
     "annotations": {"summary": "The KPI exporter cannot read Redis, or Redis does not take "
                                "the workers' writes (down, loading, read-only, out of memory "
                                "or evicting): nothing is counted meanwhile."}},
    {"alert": "SupportStoreEvicting",
     "expr": "max(support_redis_evicting) == 1",
     "for": "30s", "labels": {"severity": "page"},
     "annotations": {"summary": "Redis evicts the KPI store's keys (maxmemory-policy is not "
                                "noeviction, or keys were evicted): the workers count nothing "
                                "until it is noeviction again, then rebuild what was lost."}},
    {"alert": "SupportStoreIncomplete",
     "expr": "min by (window) (support_store_complete) == 0",
     "for": "2m", "labels": {"severity": "warning"},
     "annotations": {"summary": "The {{ $labels.window }} window lacks events: Redis lost its "
                                "data and the rebuild does not reach back that far (see "
                                "support_store_lost_before_timestamp_seconds)."}},
    {"alert": "SupportStoreLostOffsets",
     "expr": "max by (partition, first, last) (support_store_lost_offsets) > 0",
     "labels": {"severity": "page"},
     "annotations": {"summary": "Redis went back in time and Kafka no longer holds offsets "
                                "{{ $labels.first }}..{{ $labels.last }} of "
                                "{{ $labels.partition }}: those events are missing from the "
                                "windows until they slide past the loss."}},
    {"alert": "Watchdog",
     "expr": "vector(1)",
     "labels": {"severity": "none"},
     "annotations": {"summary": "Always firing: feeds an external dead-man's switch; if it "
                                "stops arriving, alerting itself is broken."}},
]


def burn_expr(slo: Slo, pair: BurnRate, label_dims: Sequence[str]) -> str:
    """The SRE workbook's multi-window burn rate over the exported achievement ratio:
    (1 − achievement) / (1 − objective) above ``factor`` over both windows, the value
    being the long window's burn rate."""
    stat = slo.stat
    by = ",".join(slo.per)
    budget = 1 - slo.objective

    def burn(window: str) -> str:
        sel = _selector(slo, label_dims, {}, window)
        return f"(max by ({by}) (1 - {stat.metric}{sel}) / {budget:.6g})"

    cond = (f"{burn(pair.long)} > {pair.factor:g} and on({by}) "
            f"{burn(pair.short)} > {pair.factor:g}")
    if slo.min_samples and stat.samples_metric:
        sel = _selector(slo, label_dims, {}, pair.long)
        cond = (f"({cond}) and on({by}) (max by ({by}) ({stat.samples_metric}{sel}) "
                f">= {slo.min_samples})")
    return f"({cond}) unless on() (max(support_catching_up) > 0)"


def _slo_text(text: str, slo: Slo, pair: BurnRate) -> str:
    literal = {"objective": f"{slo.objective:g}", "long": pair.long, "short": pair.short,
               "factor": f"{pair.factor:g}", "slo": slo.name, "severity": pair.severity}

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "value":
            return "{{ $value | printf \"%.3g\" }}"
        return literal.get(name) or "{{ $labels.%s }}" % name  # noqa: UP031 - Go braces

    return PLACEHOLDER.sub(sub, text)


def slo_rules(slos: Sequence[Slo], window_dims: Sequence[str]) -> list[dict[str, Any]]:
    """One Prometheus alert per SLO and window pair, named after the SLO; the pair is in
    its labels (``long_window``, ``short_window``) so Alertmanager can route fast burns
    to the pager and slow ones to a ticket queue."""
    out = []
    for slo in slos:
        for pair in slo.burn_rates:
            out.append({
                "alert": slo.name, "expr": burn_expr(slo, pair, window_dims),
                "for": pair.for_,
                "labels": {"severity": pair.severity, "long_window": pair.long,
                           "short_window": pair.short, **slo.labels},
                "annotations": {"summary": _slo_text(slo.summary, slo, pair),
                                **{k: _slo_text(v, slo, pair)
                                   for k, v in slo.annotations.items()}}})
    return out


def render(rules: Sequence[Rule], window_dims: Sequence[str], gauge_dims: Sequence[str],
           slos: Sequence[Slo] = ()) -> str:
    kpi_rules = []
    for r in rules:
        dims = gauge_dims if r.live else window_dims
        item: dict[str, Any] = {"alert": r.name, "expr": rule_expr(r, dims)}
        if r.for_ms:
            item["for"] = r.for_
        item["labels"] = {"severity": r.severity, **r.labels}
        item["annotations"] = {"summary": _no_data(_annotation(r.summary, r), r)}
        if r.description:
            item["annotations"]["description"] = _annotation(r.description, r)
        for name, text in r.annotations.items():
            item["annotations"][name] = _annotation(text, r)
        kpi_rules.append(item)
    groups: list[dict[str, Any]] = [{"name": "support-kpi", "rules": kpi_rules}]
    if slos:
        groups.append({"name": "support-slo-burn", "rules": slo_rules(slos, window_dims)})
    groups.append({"name": "support-pipeline", "rules": PIPELINE_RULES})
    header = ("# Generated by `support-kpi alerts render` from the alert rules YAML.\n"
              "# Do not edit: change the rules file and render again.\n")
    return header + yaml.safe_dump({"groups": groups}, sort_keys=False, width=120)
