"""Durations as people write them in settings and YAML (``15m``, ``1h``, ``7d``)."""

from __future__ import annotations

import re

from kpi.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(text: str) -> int:
    """Parse ``"15m"``, ``"1h"``, ``"30s"``, ``"7d"`` or ``"250ms"`` into milliseconds."""
    m = _DURATION.match(text)
    if not m:
        raise ConfigError(f"not a duration: {text!r} (expected e.g. 30s, 5m, 1h, 7d)")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def duration_name(ms: int) -> str:
    """``300_000`` → ``"5m"``: the largest unit that divides, as a person would write it
    (the ``within`` label of a horizon, stable whatever spelling configured it)."""
    for unit in ("d", "h", "m", "s"):
        if ms and ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


def human_duration(seconds: float) -> str:
    """A duration as a page should say it: ``"400 d"``, ``"2 h 13 min"``, ``"4 min 10 s"``,
    ``"45 s"``, ``"0.4 s"`` (the two largest units, the smaller dropped when zero or when
    the larger alone says it: from 10 days, 10 hours, 10 minutes)."""
    if seconds < 0:
        return "-" + human_duration(-seconds)
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    total = round(seconds)
    for big, size, small, small_size in (("d", 86_400, "h", 3600), ("h", 3600, "min", 60),
                                         ("min", 60, "s", 1)):
        if total >= size:
            n, rest = divmod(total, size)
            part = rest // small_size
            return f"{n} {big}" if n >= 10 or not part else f"{n} {big} {part} {small}"
    return f"{total} s"
