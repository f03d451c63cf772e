"""SLA policies (``SUPPORT_SLA_POLICIES``, e.g. ``deploy/sla_policies.yml``): targets per
priority, queue or channel for first reply, next reply and resolution, validated at
start-up into plain values for :class:`kpi.config.KpiConfig`.

::

    policies:                      # the first policy that matches a conversation applies
      - name: urgent
        match: {priority: [urgent, high]}
        targets: {first_reply: 15m, next_reply: 30m, resolution: 4h}
      - name: standard             # no match: every conversation
        targets: {first_reply: 1h, next_reply: 4h, resolution: 1d}
        clock: business            # business (default: the queue's calendar, calendar
                                   # time where it has none) or calendar

The targets follow Zendesk's SLA metrics: first reply time, next reply time (each
customer message after the first reply, from the oldest unanswered one, to the next human
reply) and requester wait time (here "resolution": created to solved, without the time
the ticket was pending on the customer or solved before a reopen).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kpi.durations import parse_duration_ms
from kpi.errors import ConfigError, describe_errors, read_yaml

# Each target once: its name in the policies file and on /metrics, and its stored field
# prefix (kpi.conversation writes <prefix>_n, _ok, _bad).
TARGETS: tuple[tuple[str, str], ...] = (
    ("first_reply", "slfr"),
    ("next_reply", "slnr"),
    ("resolution", "slres"),
)
TARGET_NAMES = tuple(name for name, _ in TARGETS)
MATCHABLE = ("priority", "queue", "channel", "team")


@dataclass(frozen=True)
class SlaPolicy:
    name: str
    match: tuple[tuple[str, frozenset[str]], ...]  # dimension -> accepted values
    targets: tuple[tuple[str, int], ...]  # target name -> ms
    business: bool = True

    def matches(self, dims: Mapping[str, str]) -> bool:
        return all(dims.get(d) in values for d, values in self.match)

    def target_ms(self, name: str) -> int | None:
        return dict(self.targets).get(name)


@dataclass(frozen=True)
class SlaPolicies:
    policies: tuple[SlaPolicy, ...] = ()

    def for_dims(self, dims: Mapping[str, str]) -> SlaPolicy | None:
        """The first policy matching a conversation's own labels (before any cap).

        Called for every evaluation of a conversation: a plain loop, no generator (that
        was 5% of a worker's samples with no policies configured at all)."""
        for p in self.policies:
            if p.matches(dims):
                return p
        return None


NO_POLICIES = SlaPolicies()


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    match: dict[Literal["priority", "queue", "channel", "team"], str | list[str]] = {}
    targets: dict[Literal["first_reply", "next_reply", "resolution"], str]
    clock: Literal["business", "calendar"] = "business"

    @field_validator("targets")
    @classmethod
    def _targets(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("a policy needs at least one target")
        for text in v.values():
            if parse_duration_ms(text) <= 0:
                raise ValueError(f"target {text!r} must be longer than 0")
        return v


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policies: list[_Policy] = Field(min_length=1)


def parse_policies(text: str, source: str = "<policies>") -> SlaPolicies:
    """Parse and validate; raises :class:`ConfigError` in one line naming what to change."""
    doc = read_yaml(text, source)
    try:
        f = _File.model_validate(doc)
    except ValidationError as exc:
        loc, msg = describe_errors(exc, doc)[0]
        raise ConfigError(f"{source}: {'.'.join(loc) or '(file)'}: {msg}") from None
    names = [p.name for p in f.policies]
    for n in names:
        if names.count(n) > 1:
            raise ConfigError(f"{source}: policy name {n!r} is used twice")
    return SlaPolicies(tuple(
        SlaPolicy(p.name,
                  tuple(sorted((d, frozenset([v] if isinstance(v, str) else v))
                               for d, v in p.match.items())),
                  tuple((t, parse_duration_ms(p.targets[t])) for t in TARGET_NAMES
                        if t in p.targets),
                  p.clock == "business")
        for p in f.policies))


def load_policies(path: Path) -> SlaPolicies:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the SLA policies file ({exc.strerror})") \
            from None
    return parse_policies(text, str(path))
