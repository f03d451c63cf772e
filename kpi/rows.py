"""The read side's arithmetic: bucket hashes merged into rows per dimension combination,
rolled up, kept within the series budget, and summarized into KPI values."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set

from kpi import catalog
from kpi.dims import cap_dims, dimension_key, parse_dimension_key
from kpi.events import OTHER


def _activity(fields: Mapping[str, float | None]) -> float:
    """How much a row has going on: created, completed, surveyed (window fields), or open
    and waiting (live rows); the rows a budget keeps first."""
    keys = ("vol_created", "done_n", "csat_n", "open", "waiting")
    return sum(float(fields.get(k) or 0) for k in keys)


def budget(rows: Mapping[str, Mapping[str, float | None]], max_rows: int) -> dict[str, str]:
    """Which rows a budget of ``max_rows`` folds, and into which ``other`` row.

    Dimension combinations are kept whole from the coarsest (the floor, then one
    dimension, then pairs) while they fit; in the first that does not, its busiest rows
    are kept and the rest fold into the combination's ``other`` row (every dimension
    ``other``, where the per-dimension value cap already puts overflow); the finer
    combinations after it keep only their ``other`` row. One row is reserved for each
    combination's ``other``, so the result never exceeds ``max_rows`` (nor the number of
    combinations)."""
    by_set: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for key in rows:
        by_set[tuple(parse_dimension_key(key))].append(key)
    sets = sorted(by_set, key=lambda ds: (len(ds), ds))
    left = max_rows
    folds: dict[str, str] = {}
    for i, ds in enumerate(sets):
        keys = sorted(by_set[ds], key=lambda k: (-_activity(rows[k]), k))
        room = left - (len(sets) - i - 1)
        if len(keys) <= room:
            left -= len(keys)
            continue
        other = dimension_key(dict.fromkeys(ds, OTHER), ds)
        kept = [k for k in keys if k != other][:max(0, room - 1)]
        for k in keys:
            if k not in kept:
                folds[k] = other
        left -= len(kept) + 1
    return folds


def fold_rows(raw: Mapping[str, Mapping[str, int]], max_rows: int
              ) -> tuple[dict[str, dict[str, int]], int]:
    """Window rows (bucket fields, all additive) within the budget: folded rows are summed
    into their ``other`` row. Returns the rows and how many were folded."""
    folds = budget(raw, max_rows)
    out = {k: dict(v) for k, v in raw.items() if k not in folds}
    for key, other in folds.items():
        target = out.setdefault(other, {})
        for f, n in raw[key].items():
            target[f] = target.get(f, 0) + n
    return out, sum(1 for k, v in folds.items() if k != v)


def fold_live(rows: Mapping[str, Mapping[str, float | None]], max_rows: int
              ) -> tuple[dict[str, dict[str, float | None]], int]:
    """Live-gauge rows within the budget: counts add up, the oldest waiting is the oldest."""
    folds = budget(rows, max_rows)
    out = {k: dict(v) for k, v in rows.items() if k not in folds}
    for key, other in folds.items():
        target = out.setdefault(other, {})
        for f, v in rows[key].items():
            old = target.get(f) or 0
            if f.startswith("oldest_waiting"):
                target[f] = max(old, v or 0)
            else:
                target[f] = old + (v or 0)
    return out, sum(1 for k, v in folds.items() if k != v)


def merge_fields(hashes: Iterable[Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Sum bucket hashes and split their fields by (stored) dimension key."""
    merged: dict[str, dict[str, int]] = defaultdict(dict)
    for h in hashes:
        for field, n in h.items():
            dimkey, _, metric = field.partition("|")
            d = merged[dimkey]
            d[metric] = d.get(metric, 0) + int(n)
    return merged


def roll_up(stored: Mapping[str, Mapping[str, int]],
            dimension_sets: Sequence[Sequence[str]],
            admitted: Mapping[str, Set[str]] | None = None) -> dict[str, dict[str, int]]:
    """Rows of every configured dimension set, summed from the stored finest combination,
    values outside ``admitted`` (:func:`kpi.dims.admitted_values`) summed as ``other``."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for dimkey, fields in stored.items():
        dims = cap_dims(parse_dimension_key(dimkey), admitted)
        for ds in dimension_sets:
            if any(d not in dims for d in ds):
                continue
            row = out[dimension_key(dims, ds)]
            for metric, n in fields.items():
                row[metric] = row.get(metric, 0) + n
    return out


def summarize(fields: Mapping[str, int]) -> dict[str, float | None]:
    """KPI values of one dimension combination in one window; ``None`` means absent.

    A ratio with no denominator is absent, never 0; a quantile of no samples is absent.
    Every value is declared in :mod:`kpi.catalog`.
    """
    return catalog.summarize(fields)
