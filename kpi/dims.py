"""Dimension keys: how a combination of label values is named in the buckets and rows
(``*``, ``queue=billing``, ``queue=billing,channel=email``), and the value cap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

from kpi.events import OTHER


def cap_dims(dims: Mapping[str, str], admitted: Mapping[str, Set[str]] | None) -> dict[str, str]:
    """Map values outside the admitted set of their dimension to ``other``."""
    if admitted is None:
        return dict(dims)
    return {d: (v if d not in admitted or v in admitted[d] else OTHER) for d, v in dims.items()}


def dimension_key(dims: Mapping[str, str], dim_set: Sequence[str]) -> str:
    """Field prefix of one dimension combination: ``*`` for all, else ``queue=a,channel=b``."""
    if not dim_set:
        return "*"
    return ",".join(f"{d}={dims[d]}" for d in dim_set)


def parse_dimension_key(key: str) -> dict[str, str]:
    if key == "*":
        return {}
    return dict(part.split("=", 1) for part in key.split(","))


def admitted_values(first_seen: Mapping[str, int], cap: int) -> set[str]:
    """The values of a dimension that get their own row: the ``cap`` whose first event
    time is earliest (ties by value), a function of the events alone, whatever order the
    partitions were applied in."""
    return {v for v, _t in sorted(first_seen.items(), key=lambda kv: (kv[1], kv[0]))[:cap]}


def relabel(dimkey: str, admitted: Mapping[str, Set[str]] | None) -> str:
    """A dimension key with the values outside the admitted sets as ``other``."""
    if not admitted or dimkey == "*":
        return dimkey
    dims = parse_dimension_key(dimkey)
    capped = cap_dims(dims, admitted)
    return dimkey if capped == dims else ",".join(f"{d}={v}" for d, v in capped.items())
