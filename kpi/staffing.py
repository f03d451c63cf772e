"""Staffing need, live (docs/kpis.md "Agents and staffing"): per queue, the agents its
service-level target needs by Erlang C from the staffing window's arrival rate and handle
time, the gap to the agents staffed now, and the service level those would give.

The Erlang C arithmetic is pyworkforce's (``ErlangC``: the Erlang B recursion, its
waiting probability and service level; README "Dependencies" says why that library).
Its own search for the agents needed starts at ``round(A + 1)`` and can miss ``ceil(A)``,
so :func:`agents_needed` searches from ``floor(A) + 1`` and asks it for each service level.

The targets file (``SUPPORT_STAFFING``)::

    default:                 # every queue not listed (omit: 80% within 20 s)
      service_level: 0.8
      answer_within: 20s
    queues:
      chat:
        service_level: 0.8
        answer_within: 60s
        concurrency: 2.5     # chats an agent works at once (handle time ÷ 2.5)
        max_occupancy: 0.85  # at most 85% busy: more agents when Erlang C would allow more
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kpi.durations import parse_duration_ms
from kpi.errors import ConfigError, describe_errors, read_yaml

# the staffing gauges of a queue row (docs/kpis.md)
NEEDED, GAP, TRAFFIC, PREDICTED, HANDLED = (
    "staffing_agents_needed", "staffing_gap_agents", "staffing_traffic_erlangs",
    "staffing_service_level_predicted", "staffing_handled_contacts")


@dataclass(frozen=True)
class Target:
    """A queue's service-level target and how its agents work it."""

    service_level: float = 0.8
    answer_within_ms: int = 20_000
    concurrency: float = 1.0  # contacts an agent works at once (chat)
    max_occupancy: float = 1.0


@dataclass(frozen=True)
class Staffing:
    """The staffing settings as plain values."""

    default: Target = Target()
    queues: tuple[tuple[str, Target], ...] = ()
    window: str = "15m"  # one of SUPPORT_WINDOWS
    min_contacts: int = 5
    by_queue: dict[str, Target] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_queue", dict(self.queues))

    def target(self, queue: str) -> Target:
        return self.by_queue.get(queue, self.default)


def _erlang(arrivals: float, window_s: float, service_s: float) -> Any:
    from pyworkforce.queuing import ErlangC  # 0.5 s to import: only where it computes

    return ErlangC(transactions=arrivals, aht=service_s, asa=1.0, interval=window_s)


def service_level(agents: int, arrivals: float, window_s: float, handle_s: float,
                  target: Target) -> float:
    """Erlang C's share answered within the target's time with ``agents`` agents; 0 when
    they cannot keep up with the traffic (the queue grows without bound)."""
    service_s = handle_s / target.concurrency
    if arrivals <= 0:  # nobody waits, if anybody is there
        return 1.0 if agents > 0 else 0.0
    traffic = arrivals / window_s * service_s
    if agents <= traffic:
        return 0.0
    erlang = _erlang(arrivals, window_s, service_s)
    erlang.asa = target.answer_within_ms / 1000.0
    return float(erlang.service_level(agents))


def agents_needed(arrivals: float, window_s: float, handle_s: float, target: Target
                  ) -> tuple[int, float]:
    """The fewest agents, more than the traffic A, whose Erlang C service level reaches
    the target and whose occupancy A ÷ N stays within its maximum; and A (erlangs)."""
    if arrivals <= 0:
        return 0, 0.0
    service_s = handle_s / target.concurrency
    traffic = arrivals / window_s * service_s
    erlang = _erlang(arrivals, window_s, service_s)
    erlang.asa = target.answer_within_ms / 1000.0
    n = max(math.floor(traffic) + 1, math.ceil(traffic / target.max_occupancy))
    while erlang.service_level(n) < target.service_level:
        n += 1
    return n, traffic


def queue_staffing(arrivals: int, window_s: float, handle_ms: list[int], staffed: int,
                   target: Target, min_contacts: int) -> dict[str, float | None]:
    """One queue's staffing gauges; the need is absent with fewer than ``min_contacts``
    handle times to go by (unless nothing arrived: then nobody is needed)."""
    handled = len(handle_ms)
    row: dict[str, float | None] = {HANDLED: handled}
    if arrivals and handled < min_contacts:
        return row | {NEEDED: None, GAP: None, TRAFFIC: None, PREDICTED: None}
    handle_s = sum(handle_ms) / handled / 1000.0 if handled else 0.0
    if arrivals and handle_s <= 0:  # every contact took no time: no load
        arrivals = 0
    needed, traffic = agents_needed(arrivals, window_s, handle_s, target)
    return row | {NEEDED: needed, GAP: needed - staffed, TRAFFIC: traffic,
                  PREDICTED: service_level(staffed, arrivals, window_s, handle_s, target)}


def floor_staffing(queues: Mapping[str, Mapping[str, float | None]], staffed: int
                   ) -> dict[str, float | None]:
    """The floor row: the sum of its queues' needs (those with one) against its staffed
    agents, each counted once."""
    needs = [r[NEEDED] for r in queues.values() if r.get(NEEDED) is not None]
    if not needs:
        return {}
    needed = sum(n for n in needs if n is not None)
    return {NEEDED: needed, GAP: needed - staffed,
            TRAFFIC: sum(r.get(TRAFFIC) or 0.0 for r in queues.values()),
            HANDLED: sum(r.get(HANDLED) or 0 for r in queues.values())}


NO_STAFFING = Staffing()  # 80% within 20 s everywhere, read over 15m


# -- the targets file -------------------------------------------------------------------


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_level: float = Field(0.8, gt=0, lt=1)
    answer_within: str = "20s"
    concurrency: float = Field(1.0, ge=1, le=100)
    max_occupancy: float = Field(1.0, gt=0, le=1)

    @field_validator("answer_within")
    @classmethod
    def _within(cls, v: str) -> str:
        if parse_duration_ms(v) <= 0:
            raise ValueError("must be a positive duration, e.g. 20s")
        return v

    def target(self) -> Target:
        return Target(self.service_level, parse_duration_ms(self.answer_within),
                      self.concurrency, self.max_occupancy)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: _Target = Field(default_factory=lambda: _Target.model_validate({}))
    queues: dict[str, _Target] = {}


def parse_staffing(text: str, source: str = "<staffing>", *, window: str = "15m",
                   min_contacts: int = 5) -> Staffing:
    """Parse and validate; raises :class:`ConfigError` in one line naming what to change."""
    doc = read_yaml(text, source) or {}
    try:
        f = _File.model_validate(doc)
    except ValidationError as exc:
        errors = describe_errors(exc, doc)
        (loc, msg), more = errors[0], len(errors) - 1
        raise ConfigError(f"{source}: {'.'.join(loc) or '(file)'}: {msg}"
                          f"{f' (and {more} more)' if more else ''}") from None
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return Staffing(f.default.target(), tuple(sorted((q, t.target())
                                                     for q, t in f.queues.items())),
                    window, min_contacts)


def load_staffing(path: Path, *, window: str = "15m", min_contacts: int = 5) -> Staffing:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the staffing file ({exc.strerror})") from None
    return parse_staffing(text, str(path), window=window, min_contacts=min_contacts)
