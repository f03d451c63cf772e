"""The alert state machine, pure: (rule, state, observation, now) → (state, transitions).

States: ``ok`` → ``pending`` (condition holds, waiting out ``for``) → ``firing`` →
(condition cleared past the clear threshold) ``resolved``, which is reported once and
stored as ``ok``. Explicit rules:

* **Hysteresis.** Entering needs ``value <cmp> threshold``; a firing alert stays firing
  while ``value <cmp> clear`` holds (``clear`` defaults to the threshold), so with
  ``> 600, clear 480`` it fires above 600 and resolves only at or below 480.
* **``for``.** Pending becomes firing only when the condition held at every evaluation
  for at least ``for``; any healthy evaluation in between returns to ok, silently.
* **Minimum samples.** A value backed by fewer than ``min_samples`` samples is no data.
* **No data** (absent value: no denominator, or too few samples): never fires and never
  starts ``for``; a pending alert returns to ok; a firing alert keeps firing
  (``no_data: keep``, the default of windowed KPIs: a quiet window does not resolve a real
  problem) or resolves (``no_data: resolve``, the default of live gauges: a queue that
  drained has nothing waiting).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal

from alerts.rules import Rule

Status = Literal["ok", "pending", "firing"]
STATE_VALUE = {"ok": 0, "pending": 1, "firing": 2}


@dataclass(frozen=True)
class AlertState:
    status: Status = "ok"
    since_ms: int | None = None  # pending since
    fired_ms: int | None = None  # firing since
    value: float | None = None
    last_sent_ms: int | None = None  # last push to Alertmanager
    severity: str = ""

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> AlertState:
        return cls(**doc)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Transition:
    kind: Literal["pending", "firing", "resolved", "cancelled"]
    at_ms: int
    value: float | None
    started_ms: int | None


def past(op: str, value: float, threshold: float) -> bool:
    """Whether ``value`` is on the bad side of ``threshold`` for comparison ``op``."""
    return {">": value > threshold, ">=": value >= threshold, "<": value < threshold,
            "<=": value <= threshold}[op]


def step(rule: Rule, state: AlertState, value: float | None, samples: int | None,
         now_ms: int) -> tuple[AlertState, list[Transition]]:
    if value is not None and samples is not None and samples < rule.min_samples:
        value = None
    if value is None:
        if state.status == "pending":
            return AlertState(value=None), [Transition("cancelled", now_ms, None, state.since_ms)]
        if state.status == "firing" and rule.no_data == "resolve":
            return AlertState(value=None), [Transition("resolved", now_ms, None, state.fired_ms)]
        return replace(state, value=None), []
    breach = past(rule.comparison, value, rule.threshold)
    if state.status == "firing":
        clear = rule.threshold if rule.clear is None else rule.clear
        if past(rule.comparison, value, clear):  # still on the bad side of the clear line
            return replace(state, value=value), []
        return AlertState(value=value), [Transition("resolved", now_ms, value, state.fired_ms)]
    if not breach:
        if state.status == "pending":
            return AlertState(value=value), [Transition("cancelled", now_ms, value,
                                                        state.since_ms)]
        return replace(state, value=value), []
    since = state.since_ms if state.status == "pending" and state.since_ms is not None \
        else now_ms
    out: list[Transition] = []
    if state.status == "ok":
        out.append(Transition("pending", now_ms, value, since))
    if now_ms - since >= rule.for_ms:
        out.append(Transition("firing", now_ms, value, now_ms))
        return AlertState(status="firing", since_ms=since, fired_ms=now_ms, value=value), out
    return AlertState(status="pending", since_ms=since, value=value), out
