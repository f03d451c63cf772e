"""The business-calendars file (``SUPPORT_CALENDARS``, e.g. ``deploy/calendars.yml``),
validated at start-up into plain values for :class:`kpi.config.KpiConfig`.

::

    calendars:
      emea:
        timezone: Europe/Berlin
        hours:                       # weekdays not listed are closed
          mon: ["09:00-12:30", "13:30-18:00"]
          tue: ["09:00-18:00"]
        holidays: [2026-12-25, 2026-12-26]
    queues:                          # queue -> calendar
      billing: emea
    default: emea                    # queues not listed (omit: calendar time, 24/7)
    sla_clock: business              # SLA targets in business (default) or calendar time

A mistake is one line naming the file, the calendar or queue, and the field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from kpi.calendar import WEEKDAYS, BusinessCalendar, parse_hours, weekly_from
from kpi.errors import ConfigError, describe_errors, read_yaml


class _Calendar(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str
    hours: dict[str, list[str]]
    holidays: list[dt.date] = []

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name, e.g. "
                             "Europe/Berlin)") from None
        return v

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, spans in v.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r} (known: {', '.join(WEEKDAYS)})")
            for s in spans:
                parse_hours(s)
        return v


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calendars: dict[str, _Calendar]
    queues: dict[str, str] = {}
    default: str | None = None
    sla_clock: Literal["business", "calendar"] = "business"


@dataclass(frozen=True)
class Calendars:
    """Queue → business calendar (plain values for the KPI arithmetic)."""

    by_queue: tuple[tuple[str, BusinessCalendar], ...] = ()
    default: BusinessCalendar | None = None
    sla_business: bool = True  # SLA targets count business time where a calendar applies

    def for_queue(self, queue: str) -> BusinessCalendar | None:
        for q, cal in self.by_queue:
            if q == queue:
                return cal
        return self.default


NONE = Calendars()


def parse_calendars(text: str, source: str = "<calendars>") -> Calendars:
    """Parse and validate; raises :class:`ConfigError` in one line naming what to change."""
    doc = read_yaml(text, source)
    try:
        f = _File.model_validate(doc)
    except ValidationError as exc:
        errors = describe_errors(exc, doc)
        (loc, msg), more = errors[0], len(errors) - 1
        raise ConfigError(f"{source}: {'.'.join(loc) or '(file)'}: {msg}"
                          f"{f' (and {more} more)' if more else ''}") from None
    built: dict[str, BusinessCalendar] = {}
    for name, c in f.calendars.items():
        try:
            built[name] = BusinessCalendar(name, c.timezone, weekly_from(c.hours),
                                           frozenset(c.holidays))
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    refs: list[tuple[str, str | None]] = [(f"queues.{q}", n) for q, n in f.queues.items()]
    for where, ref in [*refs, ("default", f.default)]:
        if ref is not None and ref not in built:
            raise ConfigError(f"{source}: {where}: no calendar named {ref!r} "
                              f"(defined: {', '.join(sorted(built)) or 'none'})")
    return Calendars(by_queue=tuple(sorted((q, built[n]) for q, n in f.queues.items())),
                     default=built[f.default] if f.default else None,
                     sla_business=f.sla_clock == "business")


def load_calendars(path: Path) -> Calendars:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the calendars file ({exc.strerror})") from None
    return parse_calendars(text, str(path))
