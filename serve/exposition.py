"""The Prometheus text exposition of a registry, byte for byte what prometheus_client's
``generate_latest`` writes, at a fraction of its cost per series.

Why not ``generate_latest``: it validates and escapes every label name of every sample
(five to seven per series here, the same dozen names over and over) and builds each line
through several format calls; on a floor of 20,000 series that is most of a scrape
(docs/benchmarks.md measures both side by side). Here a label name is checked once per
render, a label value is escaped only when it holds a character that needs it, and a
sample's line is one join. Only what the KPI exporter's collectors yield is rendered
(gauges, counters, summaries; no timestamps, no exemplars, no OpenMetrics-only types);
tests/unit/serve/test_exposition.py compares the bytes with ``generate_latest`` on the
real collectors and on hostile label values.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import escape_label_name, escape_metric_name
from prometheus_client.utils import floatToGoString

# Prometheus format types of the OpenMetrics ones prometheus_client collectors yield
_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram",
          "unknown": "untyped"}
_OM_SUFFIXES = ("_created", "_gsum", "_gcount")


def _value(v: str) -> str:
    if "\\" in v or "\n" in v or '"' in v:
        return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return v


class _Lines:
    """One render's caches: escaped label names, and the text of recurring values."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.floats: dict[float, str] = {}

    def name(self, k: str) -> str:
        out = self.names.get(k)
        if out is None:
            out = self.names[k] = escape_label_name(k)
        return out

    def number(self, v: float) -> str:
        out = self.floats.get(v)
        if out is None:
            out = floatToGoString(v)
            if len(self.floats) < 100_000:
                self.floats[v] = out
        return out

    def sample(self, name: str, labels: dict[str, str], value: float,
               timestamp: Any) -> str:
        if labels:
            inner = ",".join([f'{self.name(k)}="{_value(v)}"'
                              for k, v in sorted(labels.items())])
            head = f"{escape_metric_name(name)}{{{inner}}}"
        else:
            head = escape_metric_name(name)
        tail = "" if timestamp is None else f" {int(float(timestamp) * 1000):d}"
        return f"{head} {self.number(value)}{tail}\n"


def render(metrics: Iterable[Metric]) -> bytes:
    """The text format of ``metrics`` (e.g. ``registry.collect()``)."""
    lines = _Lines()
    out: list[str] = []
    for metric in metrics:
        if isinstance(metric, TextFamily):
            doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
            out.append(f"# HELP {metric.name} {doc}\n# TYPE {metric.name} "
                       f"{_TYPES.get(metric.type, metric.type)}\n")
            out.extend(metric.lines)
            continue
        mname, mtype = metric.name, metric.type
        if mtype == "counter":
            mname += "_total"
        elif mtype == "info":
            mname += "_info"
        mtype = _TYPES.get(mtype, mtype)
        doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
        shown = escape_metric_name(mname)
        out.append(f"# HELP {shown} {doc}\n# TYPE {shown} {mtype}\n")
        extra: dict[str, list[str]] = {}
        om = {metric.name + x: x for x in _OM_SUFFIXES}
        for s in metric.samples:
            line = lines.sample(s.name, s.labels, s.value, s.timestamp)
            suffix = om.get(s.name)
            if suffix is None:
                out.append(line)
            else:
                extra.setdefault(suffix, []).append(line)
        for suffix, more in sorted(extra.items()):
            shown = escape_metric_name(metric.name + suffix)
            out.append(f"# HELP {shown} {doc}\n# TYPE {shown} gauge\n")
            out.extend(more)
    return "".join(out).encode("utf-8")


class RowLabels:
    """The label set of one row (a window and dimension combination), escaped and sorted
    by name once, for every family that has a sample of that row; an extra label
    (``quantile``, ``kind``, ``within``) goes in at its sorted place."""

    __slots__ = ("_keys", "_pairs", "plain")

    def __init__(self, names: Sequence[str], values: Sequence[str]) -> None:
        pairs = sorted(zip(names, values, strict=True))
        self._keys = [k for k, _ in pairs]
        self._pairs = [f'{k}="{_value(v)}"' for k, v in pairs]
        self.plain = ",".join(self._pairs)

    def extra(self, name: str, value: str) -> str:
        i = bisect.bisect(self._keys, name)
        return ",".join([*self._pairs[:i], f'{name}="{_value(value)}"', *self._pairs[i:]])


class TextFamily(Metric):
    """A metric family whose sample lines are written as they are added (the KPI
    exporter's families: tens of thousands of samples per scrape). :func:`render` writes
    them as they are; ``samples`` stays empty, so only :func:`render` can expose it."""

    def __init__(self, name: str, documentation: str, typ: str) -> None:
        super().__init__(name, documentation, typ)
        self.lines: list[str] = []
        self._numbers: dict[float, str] = {}

    def add(self, labels: str, value: float, suffix: str = "") -> None:
        """A sample of ``labels`` (a :class:`RowLabels` string); ``suffix`` ``_sum`` or
        ``_count`` for a summary's."""
        text = self._numbers.get(value)
        if text is None:
            text = floatToGoString(value)
            if len(self._numbers) < 10_000:
                self._numbers[value] = text
        self.lines.append(f"{self.name}{suffix}{{{labels}}} {text}\n" if labels
                          else f"{self.name}{suffix} {text}\n")

    def _restricted_metric(self, names: Any) -> TextFamily | None:
        """All of it when ``/metrics?name[]=`` asks for any of its names (prometheus_client
        restricts by sample names, which a text family does not keep)."""
        own = {self.name, f"{self.name}_sum", f"{self.name}_count"}
        return self if own & set(names) else None
