"""The KPI table printed by ``support-kpi query``: one row per dimension combination."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from windows import kpi
from windows.reader import WindowSnapshot

COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (header, key, format)
    ("created", "volume_created", "int"),
    ("frt_n", "frt_count", "int"),
    ("frt_mean", "frt_mean_seconds", "dur"),
    ("frt_p50", "frt_p50_seconds", "dur"),
    ("frt_p90", "frt_p90_seconds", "dur"),
    ("frt_sla", "frt_sla_ratio", "pct"),
    ("done", "completed", "int"),
    ("res_p50", "resolution_p50_seconds", "dur"),
    ("fcr", "fcr_ratio", "pct"),
    ("esc", "escalation_ratio", "pct"),
    ("csat_n", "csat_responses", "int"),
    ("csat", "csat_ratio", "pct"),
    ("csat_avg", "csat_mean", "num"),
    ("reopened", "volume_reopened", "int"),
    ("resp_p90", "response_p90_seconds", "dur"),
    ("aband", "abandonment_ratio", "pct"),
    ("handoff", "handoff_ratio", "pct"),
)


def _fmt(v: float | None, kind: str) -> str:
    if v is None:
        return "-"
    if kind == "int":
        return str(int(v))
    if kind == "pct":
        return f"{v * 100:.1f}%"
    if kind == "dur":
        if v >= 3600:
            return f"{v / 3600:.1f}h"
        if v >= 60:
            return f"{v / 60:.1f}m"
        return f"{v:.1f}s"
    return f"{v:.2f}"


def _label(dimkey: str) -> str:
    d = kpi.parse_dimension_key(dimkey)
    return "all" if not d else " ".join(f"{k}={v}" for k, v in d.items())


def _order(dimkey: str) -> tuple[int, str]:
    return (0 if dimkey == "*" else dimkey.count(",") + 1, dimkey)


def table(snap: WindowSnapshot) -> str:
    rows = [["dimensions", *[h for h, _, _ in COLUMNS]]]
    for dk in sorted(snap.rows, key=_order):
        r = snap.rows[dk]
        rows.append([_label(dk), *[_fmt(r.get(k), f) for _, k, f in COLUMNS]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:],
                                                                          strict=True)]
        lines.append("  ".join(cells))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def json_lines(snap: WindowSnapshot) -> Iterable[str]:
    for dk in sorted(snap.rows, key=_order):
        row: Mapping[str, float | None] = snap.rows[dk]
        yield json.dumps({"window": snap.window.name, "at": snap.at_ms / 1000.0,
                          "dimensions": kpi.parse_dimension_key(dk), **row}, sort_keys=True)


GAUGE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("open", "open", "int"),
    ("waiting", "waiting", "int"),
    ("oldest_wait", "oldest_waiting_seconds", "dur"),
    ("breaching", "breaching", "int"),
)


def gauge_table(rows: Mapping[str, Mapping[str, float | None]]) -> str:
    out = [["live queue", *[h for h, _, _ in GAUGE_COLUMNS]]]
    for dk in sorted(rows, key=_order):
        out.append([_label(dk), *[_fmt(rows[dk].get(k), f) for _, k, f in GAUGE_COLUMNS]])
    widths = [max(len(r[i]) for r in out) for i in range(len(out[0]))]
    lines = []
    for j, row in enumerate(out):
        lines.append("  ".join([row[0].ljust(widths[0])]
                               + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def gauge_json_lines(rows: Mapping[str, Mapping[str, float | None]], at_ms: int) -> Iterable[str]:
    for dk in sorted(rows, key=_order):
        yield json.dumps({"window": "live", "at": at_ms / 1000.0,
                          "dimensions": kpi.parse_dimension_key(dk), **rows[dk]}, sort_keys=True)


def render(snap: WindowSnapshot, gauges: Mapping[str, Mapping[str, float | None]],
           as_json: bool) -> str:
    """What both `query` and `oracle` print: the window table, then the live queue."""
    import time as _time

    if as_json:
        return "\n".join([*json_lines(snap), *gauge_json_lines(gauges, snap.at_ms)])
    when = _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(snap.at_ms / 1000))
    parts = [f"window {snap.window.name} at {when} UTC", "",
             table(snap) if snap.rows else "(no data in this window)", ""]
    parts.append(gauge_table(gauges) if gauges else "(no open conversations)")
    return "\n".join(parts)


def alert_table(states: Mapping[str, Mapping[str, object]], at_ms: int) -> str:
    """Current alert states (pending and firing first)."""
    if not states:
        return "alerts: none pending or firing"
    order = {"firing": 0, "pending": 1, "ok": 2}
    rows = [["alert", "dimensions", "state", "value", "since"]]
    for key, doc in sorted(states.items(), key=lambda kv: (order.get(str(kv[1].get("status")), 3),
                                                            kv[0])):
        rule, _, dimkey = key.partition("|")
        status = str(doc.get("status"))
        since = doc.get("fired_ms") if status == "firing" else doc.get("since_ms")
        age = _fmt((at_ms - int(since)) / 1000.0, "dur") if isinstance(since, int) else "-"
        value = doc.get("value")
        rows.append([rule, _label(dimkey), status,
                     "-" if value is None else f"{float(value):.4g}",  # type: ignore[arg-type]
                     age])
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
