"""What can be alerted on: KPI × statistic, taken from the one KPI catalog
(:mod:`kpi.catalog`): where the value is in a window row (or a live gauge row) and
the exported Prometheus series that carries the same number."""

from __future__ import annotations

from kpi.catalog import LIVE as LIVE_GAUGES
from kpi.catalog import WINDOWED as WINDOWED_KPIS
from kpi.catalog import Statistic, live_statistics, windowed_statistics

__all__ = ["LIVE", "WINDOWED", "Statistic", "has_horizons", "has_repeat_windows", "lookup"]

WINDOWED: dict[str, dict[str, Statistic]] = windowed_statistics()
LIVE: dict[str, dict[str, Statistic]] = live_statistics()


def lookup(kpi: str, statistic: str) -> tuple[Statistic, bool]:
    """(statistic, is_live) or KeyError with the known choices."""
    if kpi in WINDOWED:
        table, live = WINDOWED[kpi], False
    elif kpi in LIVE:
        table, live = LIVE[kpi], True
    else:
        raise KeyError(f"unknown kpi {kpi!r}; known: {', '.join([*WINDOWED, *LIVE])}")
    if statistic not in table:
        raise KeyError(f"kpi {kpi!r} has no statistic {statistic!r}; known: {', '.join(table)}")
    return table[statistic], live


def has_horizons(kpi: str) -> bool:
    """Whether a live KPI is exported per at-risk horizon (a rule may pick one: ``within``)."""
    return any(g.kpi == kpi and g.within for g in LIVE_GAUGES)


def has_repeat_windows(kpi: str) -> bool:
    """Whether a windowed KPI is kept within each repeat window (SUPPORT_REPEAT_WINDOW; a
    rule may pick one: ``within``)."""
    return any(getattr(m, "kpi", None) == kpi and getattr(m, "within", False)
               for m in WINDOWED_KPIS)
