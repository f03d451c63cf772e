"""What the writers keep of their own last writes (the main path's conversation views,
the customer path's customers): valid while Redis holds the version the script gave them,
bounded in number and in age."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


def next_version(version: str) -> str:
    """The version apply_batch.lua gives a state it writes over ``version`` ("": absent)."""
    return str(int(version or 0) + 1)


def trim_oldest(cache: OrderedDict[str, Any], cap: int, expired_before_ms: int) -> None:
    """Drop a writer cache's oldest entries (write order; each has ``written_ms``) while it
    holds more than ``cap`` or the oldest was written before ``expired_before_ms``: its
    key has expired in Redis, so keeping it could only cause a conflict."""
    while cache:
        oldest = next(iter(cache.values()))
        if len(cache) <= cap and oldest.written_ms >= expired_before_ms:
            break
        cache.popitem(last=False)
