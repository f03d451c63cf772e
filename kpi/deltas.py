"""A conversation's change of contribution → bucket increments per resolution: what a
batch adds to the windows (its contribution after an event minus before it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

from kpi.config import KpiConfig
from kpi.conversation import ConversationView
from kpi.dims import cap_dims, dimension_key

BucketDeltas = dict[tuple[int, int], dict[str, int]]
# what a batch accumulates: resolution → bucket start → stored field → increment (nested,
# so that adding an item builds no key tuple per resolution)
Deltas = dict[int, dict[int, dict[str, int]]]


def bucket_deltas(
    before: ConversationView | None,
    after: ConversationView,
    cfg: KpiConfig,
    admitted: Mapping[str, Set[str]] | None = None,
) -> BucketDeltas:
    """Per ``(bucket_ms, bucket_start)`` the field increments turning ``before`` into ``after``."""
    into: Deltas = {}
    add_bucket_deltas(into, before, after, cfg, admitted)
    return without_zeros({(res, start): fields for res, starts in into.items()
                          for start, fields in starts.items()})


def add_bucket_deltas(
    into: Deltas,
    before: ConversationView | None,
    after: ConversationView,
    cfg: KpiConfig,
    admitted: Mapping[str, Set[str]] | None = None,
) -> None:
    """Add to ``into`` the increments of :func:`bucket_deltas` (zeros may remain: a batch
    accumulates every conversation's share first and drops them once).

    When the (capped) labels did not change, the common case, the two contributions are
    compared item by item, so only the handful of items a new event changed are expanded
    into resolutions.
    """
    resolutions = cfg.resolutions_ms
    after_key = storage_key(after.dims, cfg, admitted)
    if before is None:
        _expand(into, after.items, after_key, 1, resolutions)
        return
    before_key = after_key if before.dims == after.dims else \
        storage_key(before.dims, cfg, admitted)
    if before_key != after_key:
        _expand(into, before.items, before_key, -1, resolutions)
        _expand(into, after.items, after_key, 1, resolutions)
        return
    old, new = before.items, after.items
    for item, n in new.items():
        m = old.get(item, 0)
        if n != m:
            add_increment(into, item[0], after_key + item[1], n - m, resolutions)
    for item, m in old.items():
        if m and item not in new:
            add_increment(into, item[0], after_key + item[1], -m, resolutions)


def storage_key(labels: tuple[tuple[str, str], ...], cfg: KpiConfig,
                admitted: Mapping[str, Set[str]] | None) -> str:
    """The field prefix a conversation's items are stored under: its stored dimension
    combination, values past the cap as ``other``, then ``|``."""
    return dimension_key(cap_dims(dict(labels), admitted), cfg.storage_dimensions) + "|"


def _expand(out: Deltas, items: Mapping[tuple[int, str], int], prefix: str, sign: int,
            resolutions: Sequence[int]) -> None:
    """Each item into its bucket of every resolution, under the stored dimension key."""
    for (t, metric), n in items.items():
        if n:
            add_increment(out, t, prefix + metric, sign * n, resolutions)


def add_increment(out: Deltas, t: int, field: str, n: int, resolutions: Sequence[int]
                  ) -> None:
    """``n`` more of ``field`` at event time ``t``, in its bucket of every resolution."""
    for res in resolutions:
        starts = out.get(res)
        if starts is None:
            starts = out[res] = {}
        start = t - t % res
        fields = starts.get(start)
        if fields is None:
            starts[start] = {field: n}
        else:
            fields[field] = fields.get(field, 0) + n


def without_zeros(deltas: BucketDeltas) -> BucketDeltas:
    """The buckets and fields that change (a retraction can cancel an increment)."""
    cleaned: BucketDeltas = {}
    for bucket, fields in deltas.items():
        nz = {f: n for f, n in fields.items() if n}
        if nz:
            cleaned[bucket] = nz
    return cleaned


def merge_bucket_deltas(into: BucketDeltas, more: BucketDeltas) -> None:
    for k, fields in more.items():
        target = into.setdefault(k, {})
        for f, n in fields.items():
            target[f] = target.get(f, 0) + n
