"""The tables ``support-kpi query`` prints, on fixed rows."""

from __future__ import annotations

import json
import re

from alerts.state import AlertState
from kpi.catalog import COLUMNS as CATALOG_COLUMNS
from serve.query import COLUMNS, alert_table, render
from tests.unit.serve.fixed import CFG, GAUGES, NOW_MS, rows
from windows.reader import WindowSnapshot


def snap() -> WindowSnapshot:
    return WindowSnapshot(CFG.window("1h"), NOW_MS, rows())


def test_table_has_the_catalog_columns_and_formats_values() -> None:
    text = render(snap(), GAUGES, as_json=False)
    lines = text.splitlines()
    assert lines[0] == "window 1h at 2027-01-15 08:00:00 UTC"
    header = re.split(r"\s{2,}", lines[2].strip())
    assert header == ["dimensions", *[c.show.header for c in CATALOG_COLUMNS]]
    assert [h for h, _, _ in COLUMNS] == header[1:]
    billing = next(re.split(r"\s{2,}", line) for line in lines
                   if line.startswith("queue=billing"))
    cells = dict(zip(header, billing, strict=True))
    # with their Wilson 95% intervals: 1 of 4 is 4.6-69.9%, 3 of 4 is 30.1-95.4%
    assert cells["fcr"] == "25.0% [4.6-69.9]" and cells["esc"] == "75.0% [30.1-95.4]"
    assert cells["frt_n"] == "2"
    assert cells["frt_mean"] == "1.0m" and cells["csat_avg"] == "3.50"
    tech = next(re.split(r"\s{2,}", line) for line in lines if line.startswith("queue=tech"))
    assert dict(zip(header, tech, strict=True))["fcr"] == "-"  # no denominator: absent
    assert "live queue" in text and "2.1m" in text  # oldest waiting 125 s


def test_json_lines_carry_every_row_and_the_live_queue() -> None:
    docs = [json.loads(line) for line in render(snap(), GAUGES, as_json=True).splitlines()]
    windows = [d for d in docs if d["window"] == "1h"]
    live = [d for d in docs if d["window"] == "live"]
    assert {json.dumps(d["dimensions"]) for d in windows} == {
        "{}", '{"queue": "billing"}', '{"queue": "tech"}'}
    assert next(d for d in windows if d["dimensions"] == {"queue": "billing"})["fcr_ratio"] == 0.25
    assert len(live) == 3


def test_alert_table_orders_firing_first() -> None:
    text = alert_table({"B|*": AlertState(status="pending", since_ms=NOW_MS - 30_000, value=2),
                        "A|queue=x": AlertState(status="firing", fired_ms=NOW_MS - 120_000,
                                                value=0.51234)}, NOW_MS)
    lines = text.splitlines()
    assert lines[2].split() == ["A", "queue=x", "firing", "0.5123", "2.0m"]
    assert lines[3].split() == ["B", "all", "pending", "2", "30.0s"]
    assert alert_table({}, NOW_MS) == "alerts: none pending or firing"
