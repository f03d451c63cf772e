"""The wall's sparklines: each tile's value over the last hour beside the hour before.

Points sit on a fixed grid of read time (every ``step_ms``), so a point once known never
changes and is computed once: a windowed tile's point is the window read as of that time
(the store can answer for any past time its buckets still cover), a live gauge's point is
what a sampler saw when the read clock crossed it (live state has no history to ask).
Pure: the caller reads the store and records what it read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Values = Mapping[str, float | None]

STEP_MS = 300_000  # 5 minutes
POINTS = 13  # an hour, both ends included


def grid(now_ms: int, step_ms: int = STEP_MS, points: int = 2 * POINTS - 1) -> list[int]:
    """The grid times of the last two hours ending with the one at or before ``now_ms``,
    oldest first."""
    last = now_ms // step_ms * step_ms
    return [last - k * step_ms for k in range(points - 1, -1, -1)]


class TrendBook:
    """Known points per grid time, for a set of tiles; the oldest beyond two hours are
    forgotten."""

    def __init__(self, step_ms: int = STEP_MS) -> None:
        self._step = step_ms
        self._points: dict[int, dict[str, float | None]] = {}

    def missing(self, now_ms: int) -> list[int]:
        return [t for t in grid(now_ms, self._step) if t not in self._points]

    def has(self, at_ms: int) -> bool:
        """Whether the grid time of ``at_ms`` has its point already."""
        return at_ms // self._step * self._step in self._points

    def record(self, at_ms: int, values: Values) -> None:
        """A sample taken at ``at_ms`` stands for its grid time if that has none yet."""
        t = at_ms // self._step * self._step
        self._points.setdefault(t, dict(values))
        self._forget(at_ms)

    def _forget(self, now_ms: int) -> None:
        """Drop points older than two hours before the newest (or ``now_ms``)."""
        newest = max([now_ms, *self._points])
        oldest = grid(newest, self._step)[0]
        for t in [t for t in self._points if t < oldest]:
            del self._points[t]

    def series(self, now_ms: int, keys: Sequence[str],
               current: Values) -> dict[str, dict[str, list[float | None]]]:
        """Per key: ``last`` (the last hour, oldest first, ending with ``current``) and
        ``previous`` (the hour before it, aligned point for point)."""
        times = grid(now_ms, self._step)
        out = {}
        for key in keys:
            vals = [self._points.get(t, {}).get(key) for t in times]
            last = [*vals[POINTS - 1:-1], current.get(key)]
            out[key] = {"last": last, "previous": vals[:POINTS]}
        return out
