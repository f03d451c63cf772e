"""Exact window edges from buckets of several resolutions (pure).

A window of length ``W`` evaluated at ``T`` covers the event times ``[T − W, T)``. Its
middle is read from the window's own buckets (at most ``buckets`` of them); each edge that
cuts a coarse bucket is refined with the finer resolutions that the other windows keep
anyway (a 24-minute bucket splits into 1-minute buckets, one of those into 15-second
ones, one of those into 5-second ones), so the window is exact to the finest resolution.

A finer resolution expires sooner than a coarser one, so an edge is refined only as deep
as it can be trusted: a level is used only where its buckets add up, field for field and
partition for partition, to the coarser bucket they split. Every field is additive and
every event is written to every resolution, so that equality holds exactly while the
finer buckets are all retained, and fails once some of them expired. The window then
starts at the first bucket boundary at or after ``T − W`` of the finest trusted level.

The end: a window never counts an event at or after ``T``. When the store holds nothing
at or after ``T`` (its newest event is older: a live read), the bucket containing ``T``
is read whole; otherwise (``query --at`` in the past) the end edge is refined like the
start, and the window ends at the last trusted boundary at or before ``T``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Bucket = tuple[int, int]  # (resolution ms, start ms)
Fields = Mapping[str, int]


def chain(bucket_ms: int, resolutions: Sequence[int]) -> tuple[int, ...]:
    """The window's resolution, then each finer one that divides the one before it."""
    out = [bucket_ms]
    for r in sorted(resolutions, reverse=True):
        if r < out[-1] and out[-1] % r == 0:
            out.append(r)
    return tuple(out)


@dataclass(frozen=True)
class Level:
    """One refinement of an edge: the buckets of ``res`` that split the coarser bucket
    ``parent`` (the one the edge cuts), which of them lie inside the window, and the one
    the edge cuts in turn (None when the edge falls on a boundary of ``res``)."""

    res: int
    parent: Bucket
    subs: tuple[Bucket, ...]
    inside: tuple[Bucket, ...]
    cut: Bucket | None


@dataclass(frozen=True)
class Edge:
    point: int
    start: bool  # the window's start (else its end)
    cut: Bucket | None  # the window's own bucket the edge cuts (None: on a boundary)
    levels: tuple[Level, ...]

    def at_depth(self, depth: int) -> int:
        """Where the window's edge is when refined ``depth`` levels."""
        res = self.levels[depth - 1].res if depth else (self.cut[0] if self.cut else 1)
        if self.start:
            return -(-self.point // res) * res
        return self.point // res * res


def _edge(point: int, start: bool, resolutions: Sequence[int]) -> Edge:
    r0 = resolutions[0]
    cut: Bucket | None = (r0, point // r0 * r0) if point % r0 else None
    levels: list[Level] = []
    parent = cut
    for res in resolutions[1:]:
        if parent is None:
            break
        subs = tuple((res, parent[1] + k * res) for k in range(parent[0] // res))
        if start:
            inside = tuple(b for b in subs if b[1] >= point)
        else:
            inside = tuple(b for b in subs if b[1] + res <= point)
        sub_cut: Bucket | None = (res, point // res * res) if point % res else None
        levels.append(Level(res, parent, subs, inside, sub_cut))
        parent = sub_cut
    return Edge(point, start, cut, tuple(levels))


@dataclass(frozen=True)
class Plan:
    """What to read for one window at ``at_ms`` and how to put it together."""

    lo: int
    hi: int
    middle: tuple[Bucket, ...]
    start: Edge
    end: Edge | None  # None: the end is open (the bucket containing T is in the middle)

    def buckets(self) -> list[Bucket]:
        """Every bucket to read, once."""
        out = dict.fromkeys(self.middle)
        for edge in (self.start, self.end):
            if edge is None:
                continue
            if edge.levels:  # the cut bucket is only read to check its first level
                out[edge.levels[0].parent] = None
            for level in edge.levels:
                out.update(dict.fromkeys(level.subs))
        return list(out)


def plan(length_ms: int, bucket_ms: int, at_ms: int, resolutions: Sequence[int],
         end_open: bool) -> Plan:
    """The window ``[at_ms − length_ms, at_ms)`` over the resolution ``chain``."""
    res = chain(bucket_ms, resolutions)
    lo, hi = at_ms - length_ms, at_ms
    first = -(-lo // bucket_ms) * bucket_ms
    middle = [(bucket_ms, s) for s in range(first, hi - bucket_ms + 1, bucket_ms)]
    end: Edge | None = None
    if end_open:
        if hi % bucket_ms:
            middle.append((bucket_ms, hi // bucket_ms * bucket_ms))
    else:
        end = _edge(hi, False, res)
    return Plan(lo, hi, tuple(middle), _edge(lo, True, res), end)


def _nonzero(h: Fields) -> dict[str, int]:
    return {f: n for f, n in h.items() if n}


def _adds_up(level: Level, parts: Sequence[Mapping[Bucket, Fields]]) -> bool:
    for data in parts:
        total: dict[str, int] = {}
        for b in level.subs:
            for f, n in data.get(b, {}).items():
                total[f] = total.get(f, 0) + n
        if _nonzero(total) != _nonzero(data.get(level.parent, {})):
            return False
    return True


def _refine(edge: Edge, parts: Sequence[Mapping[Bucket, Fields]]) -> tuple[list[Bucket], int]:
    """The buckets the trusted levels add inside the window, and where the edge lands."""
    used: list[Bucket] = []
    depth = 0
    for level in edge.levels:
        if not _adds_up(level, parts):
            break
        used += level.inside
        depth += 1
    return used, edge.at_depth(depth)


def assemble(p: Plan, parts: Sequence[Mapping[Bucket, Fields]]
             ) -> tuple[list[Fields], int, int]:
    """The bucket hashes that make the window (each partition's), its start and its end
    (``parts``: per partition, the hash of every bucket of :meth:`Plan.buckets`)."""
    chosen = list(p.middle)
    extra, lo = _refine(p.start, parts)
    chosen += extra
    hi = p.hi
    if p.end is not None:
        extra, hi = _refine(p.end, parts)
        chosen += extra
    return [data[b] for data in parts for b in chosen if data.get(b)], lo, hi
