"""Windows of a time range as records for reports and spreadsheets (``support-kpi export``).

One record per window end, window and dimension combination, with every KPI of the
summary row as a column: the numbers ``query`` and ``/metrics`` show, at each end in
turn. Dimensions a row does not split by read ``all``, as on ``/metrics``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from kpi import catalog
from kpi.config import WindowSpec
from kpi.dims import parse_dimension_key
from windows.reader import WindowSnapshot


def ends(from_ms: int, to_ms: int, window: WindowSpec, every_ms: int | None) -> list[int]:
    """Window ends from ``from + step`` to ``to``: by default each window once per its own
    length, so consecutive records tile the range without counting an event twice."""
    step = every_ms or window.length_ms
    return list(range(from_ms + step, to_ms + 1, step))


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def records(snaps: Iterable[WindowSnapshot], dims: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Every row of every snapshot; a window without events still has its floor row (0
    created, no first responses), so a report's hours are all there."""
    empty = catalog.summarize({})
    for snap in snaps:
        rows = {"*": empty, **snap.rows}
        for dk in sorted(rows):
            labels = parse_dimension_key(dk)
            yield {"at": _iso(snap.at_ms), "window": snap.window.name,
                   "from": _iso(snap.from_ms), "to": _iso(snap.to_ms),
                   **{d: labels.get(d, "all") for d in dims}, **rows[dk]}


def to_jsonl(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """A header of every column any record has, in the order they first appear; an absent
    value (no samples) is an empty cell."""
    columns: dict[str, None] = {}
    for r in rows:
        columns.update(dict.fromkeys(r))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), restval="", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if v is None else v for k, v in r.items()})
    return out.getvalue()
