"""Mergeable log-binned histogram for durations, with a stated relative error.

Bin ``i`` holds values in ``(γ^(i-1), γ^i]`` seconds with ``γ = (1+α)/(1-α)``; its
representative value is ``2γ^i/(γ+1)``, which is within relative error ``α`` of every
value in the bin (both edges are exactly ``α`` away). A quantile is read with the
nearest-rank rule: the bin holding the ``ceil(q·n)``-th smallest value answers, so the
reported quantile is within ``α`` of the exact nearest-rank quantile. Bins are plain
counters, so histograms of different buckets merge by addition (that is what makes a
rolling window a sum of buckets). A zero duration has its own exact bin ``z``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

RELATIVE_ERROR = 0.02
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(GAMMA)
ZERO_BIN = "z"


def bin_of_ms(duration_ms: int) -> str:
    """The bin label of a non-negative duration in milliseconds."""
    if duration_ms <= 0:
        return ZERO_BIN
    return str(math.ceil(math.log(duration_ms / 1000.0) / _LOG_GAMMA - 1e-12))


def bin_value_seconds(label: str) -> float:
    """Representative value (seconds) of a bin."""
    if label == ZERO_BIN:
        return 0.0
    i = int(label)
    return 2.0 * GAMMA**i / (GAMMA + 1.0)


def _sort_key(label: str) -> float:
    return -math.inf if label == ZERO_BIN else float(int(label))


def quantile(bins: Mapping[str, int], q: float) -> float | None:
    """Nearest-rank quantile of merged bins; ``None`` when empty."""
    items = [(lbl, n) for lbl, n in bins.items() if n > 0]
    total = sum(n for _, n in items)
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total - 1e-9))
    seen = 0
    for lbl, n in sorted(items, key=lambda kv: _sort_key(kv[0])):
        seen += n
        if seen >= rank:
            return bin_value_seconds(lbl)
    return bin_value_seconds(sorted(items, key=lambda kv: _sort_key(kv[0]))[-1][0])


def exact_nearest_rank(values: Iterable[float], q: float) -> float | None:
    """Exact nearest-rank quantile, the reference the histogram is tested against."""
    xs = sorted(values)
    if not xs:
        return None
    rank = max(1, math.ceil(q * len(xs) - 1e-9))
    return xs[rank - 1]
