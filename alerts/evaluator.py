"""Observations: the value of every rule, per dimension combination, from window rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alerts.rules import Rule
from alerts.store import alert_key
from kpi.dims import parse_dimension_key

Rows = Mapping[str, Mapping[str, float | None]]


@dataclass(frozen=True)
class Observation:
    rule: Rule
    dimkey: str
    value: float | None
    samples: int | None

    @property
    def key(self) -> str:
        return alert_key(self.rule.name, self.dimkey)

    @property
    def dims(self) -> dict[str, str]:
        return parse_dimension_key(self.dimkey)


def observe(rules: Sequence[Rule], windows: Mapping[str, Rows], gauges: Rows) -> list[Observation]:
    out = []
    for rule in rules:
        rows = gauges if rule.live else windows.get(rule.window or "", {})
        stat = rule.stat
        want = set(rule.per)
        for dimkey, row in rows.items():
            if set(parse_dimension_key(dimkey)) != want:
                continue
            v = row.get(stat.key)
            samples = row.get(stat.samples_key) if stat.samples_key else None
            out.append(Observation(rule, dimkey, None if v is None else float(v),
                                   None if samples is None else int(samples)))
    return out
