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
