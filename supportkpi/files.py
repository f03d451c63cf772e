"""The configuration files the settings name (calendars, SLA policies, staffing targets),
each read once per version of it: the settings are asked for the KPI configuration often,
and a file changed on disk is read again."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1  # the loader says why it cannot be read


def read_once(load: Callable[[Path], T], path: Path) -> T:
    """``load(path)``, from the cache while the file's modification time is unchanged."""
    return _cached(load, path, _mtime(path))


@functools.lru_cache(maxsize=32)
def _cached(load: Callable[[Path], Any], path: Path, _version: int) -> Any:
    return load(path)
