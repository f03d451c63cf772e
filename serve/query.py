"""The KPI table printed by ``support-kpi query``: one row per dimension combination."""

from __future__ import annotations

import json
import time as _time
from collections.abc import Iterable, Mapping

from alerts.state import AlertState
from alerts.store import split_key
from kpi import catalog
from kpi.dims import parse_dimension_key
from windows.reader import PipelineStats, WindowSnapshot

# (header, row key, unit) of the window table and of the live-queue table: the KPI catalog's
COLUMNS = tuple((c.show.header, c.key, c.show.unit) for c in catalog.COLUMNS)
GAUGE_COLUMNS = tuple((c.show.header, c.key, c.show.unit) for c in catalog.LIVE_COLUMNS)


def _fmt(v: float | None, kind: str) -> str:
    if v is None:
        return "-"
    if kind == "count":
        return str(int(v))
    if kind == "percent":
        return f"{v * 100:.1f}%"
    if kind == "duration":
        if v >= 3600:
            return f"{v / 3600:.1f}h"
        if v >= 60:
            return f"{v / 60:.1f}m"
        return f"{v:.1f}s"
    return f"{v:.2f}"


def _cell(row: Mapping[str, float | None], key: str, kind: str) -> str:
    """A value as printed, with its 95% interval when it has one: ``93.0% [88.1-96.2]``
    for a ratio (Wilson), ``32.0 ±9.1`` for the NPS (margin of error)."""
    text = _fmt(row.get(key), kind)
    lo, hi = row.get(f"{key}_lower"), row.get(f"{key}_upper")
    if lo is not None and hi is not None:
        return f"{text} [{lo * 100:.1f}-{hi * 100:.1f}]"
    margin = row.get(f"{key}_margin")
    if margin is not None:
        return f"{text} ±{margin:.1f}"
    return text


def _label(dimkey: str) -> str:
    d = parse_dimension_key(dimkey)
    return "all" if not d else " ".join(f"{k}={v}" for k, v in d.items())


def _order(dimkey: str) -> tuple[int, str]:
    return (0 if dimkey == "*" else dimkey.count(",") + 1, dimkey)


def _grid(rows: list[list[str]], align_right: bool = True) -> str:
    """Rows of cells as aligned text, the first row a header underlined with dashes; the
    first column left-aligned, the others right-aligned (numbers) unless told not to."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) if align_right else c.ljust(w)
            for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table(snap: WindowSnapshot) -> str:
    rows = [["dimensions", *[h for h, _, _ in COLUMNS]]]
    for dk in sorted(snap.rows, key=_order):
        r = snap.rows[dk]
        rows.append([_label(dk), *[_cell(r, k, f) for _, k, f in COLUMNS]])
    return _grid(rows)


def _edges(snap: WindowSnapshot) -> dict[str, float]:
    """The event times the rows count, ``[from, to)`` in epoch seconds (when known)."""
    if snap.from_ms is None or snap.to_ms is None:
        return {}
    return {"from": snap.from_ms / 1000.0, "to": snap.to_ms / 1000.0}


def json_lines(snap: WindowSnapshot) -> Iterable[str]:
    for dk in sorted(snap.rows, key=_order):
        row: Mapping[str, float | None] = snap.rows[dk]
        yield json.dumps({"window": snap.window.name, "at": snap.at_ms / 1000.0,
                          "dimensions": parse_dimension_key(dk), **_edges(snap), **row},
                         sort_keys=True)


def gauge_table(rows: Mapping[str, Mapping[str, float | None]]) -> str:
    out = [["live queue", *[h for h, _, _ in GAUGE_COLUMNS]]]
    for dk in sorted(rows, key=_order):
        out.append([_label(dk), *[_fmt(rows[dk].get(k), f) for _, k, f in GAUGE_COLUMNS]])
    return _grid(out)


def gauge_json_lines(rows: Mapping[str, Mapping[str, float | None]], at_ms: int) -> Iterable[str]:
    for dk in sorted(rows, key=_order):
        yield json.dumps({"window": "live", "at": at_ms / 1000.0,
                          "dimensions": parse_dimension_key(dk), **rows[dk]}, sort_keys=True)


def render(snap: WindowSnapshot, gauges: Mapping[str, Mapping[str, float | None]],
           as_json: bool) -> str:
    """What both `query` and `oracle` print: the window table, then the live queue."""
    if as_json:
        return "\n".join([*json_lines(snap), *gauge_json_lines(gauges, snap.at_ms)])
    def clock(ms: int) -> str:
        text = _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(ms // 1000))
        return text + (f".{ms % 1000:03d}" if ms % 1000 else "")

    title = f"window {snap.window.name} at {clock(snap.at_ms)} UTC"
    if snap.from_ms is not None and snap.to_ms is not None:
        title += f", events in [{clock(snap.from_ms)}, {clock(snap.to_ms)})"
    parts = [title, "",
             table(snap) if snap.rows else "(no data in this window)", ""]
    parts.append(gauge_table(gauges) if gauges else "(no open conversations)")
    return "\n".join(parts)


def incomplete_note(stats: PipelineStats, window_ms: int, at_ms: int) -> str:
    """What `query` says above a window that cannot hold every event sent in it ("" when it
    can): Redis lost data, and the rebuild (or Kafka) does not reach back that far."""
    if stats.complete(window_ms, at_ms):
        return ""
    lost = stats.lost_before_ms
    when = ("the store has no data yet (rebuilding)" if not lost else
            "it lacks events before "
            + _time.strftime("%Y-%m-%d %H:%M:%S UTC", _time.gmtime(lost / 1000)))
    ranges = "; ".join(f"{f} offsets {a}..{b}" for f, a, b in stats.lost_ranges())
    return (f"INCOMPLETE: Redis lost data and {when}"
            + (f" (Kafka no longer holds {ranges})" if ranges else ""))


def alert_table(states: Mapping[str, AlertState], at_ms: int) -> str:
    """Current alert states (pending and firing first)."""
    if not states:
        return "alerts: none pending or firing"
    order = {"firing": 0, "pending": 1, "ok": 2}
    rows = [["alert", "dimensions", "state", "value", "since"]]
    for key, st in sorted(states.items(), key=lambda kv: (order[kv[1].status], kv[0])):
        rule, dimkey = split_key(key)
        since = st.fired_ms if st.status == "firing" else st.since_ms
        age = _fmt((at_ms - since) / 1000.0, "duration") if since is not None else "-"
        value = "-" if st.value is None else f"{st.value:.4g}"
        rows.append([rule, _label(dimkey), st.status, value, age])
    return _grid(rows, align_right=False)
