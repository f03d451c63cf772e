"""Hand-worked business-hours histories on the shipped example calendar
(deploy/calendars.yml: billing on Berlin office hours, 08:00-12:30 and 13:30-18:00,
Fridays until 16:00): the stream's arithmetic and the oracle both give the numbers worked
out here, and a queue without a calendar keeps calendar time."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from devtools import oracle
from kpi.calendars import Calendars, load_calendars
from kpi.config import KpiConfig, windows_from_text
from kpi.conversation import contributions, live_state
from kpi.events import Event
from kpi.rows import summarize
from tests.support import ROOT

CALS = load_calendars(ROOT / "deploy" / "calendars.yml")
CFG = KpiConfig(windows=windows_from_text("1h"), frt_sla_ms=3_600_000, calendars=CALS)
MIN = 60_000


def berlin(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Berlin"))
               .timestamp() * 1000)


def weekend_ticket(queue: str) -> list[Event]:
    """Created Friday 15:50, answered Monday 08:30; the customer writes again at 09:00,
    the reply comes at 13:40 (after lunch); solved Monday 14:00."""
    steps = [("ticket.created", "2026-12-04T15:50", None),
             ("ticket.message", "2026-12-07T08:30", "agent"),
             ("ticket.message", "2026-12-07T09:00", "customer"),
             ("ticket.message", "2026-12-07T13:40", "agent"),
             ("ticket.solved", "2026-12-07T14:00", None)]
    return [Event(str(i), typ, berlin(t), "c", channel="email", queue=queue, priority="normal",
                  actor=actor, agent_id="a1" if actor == "agent" else None)
            for i, (typ, t, actor) in enumerate(steps)]


def stream_row(evs: list[Event], cfg: KpiConfig) -> dict[str, float | None]:
    fields: Counter[str] = Counter()
    for (_t, metric), n in contributions(evs, cfg).items.items():
        fields[metric] += n
    return summarize(fields)


def oracle_row(evs: list[Event], cfg: KpiConfig) -> dict[str, float | None]:
    return oracle.window_rows([oracle.facts_of(evs, cfg)], 0, 2**62, cfg)["*"]


@pytest.mark.parametrize("side", [stream_row, oracle_row], ids=["stream", "oracle"])
def test_a_weekend_ticket_in_business_hours(side) -> None:  # type: ignore[no-untyped-def]
    row = side(weekend_ticket("billing"), CFG)
    # calendar time: 64h40m to the first reply
    assert row["frt_sum_seconds"] == (64 * 60 + 40) * 60
    # business: Friday 15:50-16:00 and Monday 08:00-08:30
    assert row["frt_business_sum_seconds"] == 40 * 60
    # 09:00-12:30 and 13:30-13:40
    assert row["response_business_sum_seconds"] == 220 * 60
    # Friday 10 min, Monday 08:00-12:30 and 13:30-14:00
    assert row["resolution_business_sum_seconds"] == (10 + 270 + 30) * 60
    # the first-response target of 1h counts business time: met
    assert (row["sla_samples"], row["frt_sla_ratio"]) == (1, 1.0)


@pytest.mark.parametrize("side", [stream_row, oracle_row], ids=["stream", "oracle"])
def test_calendar_clock_and_queues_without_a_calendar(side) -> None:  # type: ignore[no-untyped-def]
    calendar_clock = dataclasses.replace(CFG, calendars=dataclasses.replace(
        CALS, sla_business=False))
    row = side(weekend_ticket("billing"), calendar_clock)
    assert row["frt_business_sum_seconds"] == 40 * 60  # still exported in business time
    assert row["frt_sla_ratio"] == 0.0  # but the target counts calendar time: breached
    row = side(weekend_ticket("sales"), CFG)  # sales has no calendar
    assert row["frt_business_count"] == 0 and row["frt_sla_ratio"] == 0.0


def test_a_waiting_ticket_falls_due_in_business_time() -> None:
    evs = weekend_ticket("billing")[:1]  # created Friday 15:50, not answered
    assert live_state(evs, CFG).deadline == berlin("2026-12-07T08:50")
    assert oracle.facts_of(evs, CFG).deadline == berlin("2026-12-07T08:50")
    plain = dataclasses.replace(CFG, calendars=Calendars())
    assert live_state(evs, plain).deadline == berlin("2026-12-04T16:50")
