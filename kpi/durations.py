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
