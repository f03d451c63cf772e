"""Every hand-worked conversation under every selectable definition: the stream's
arithmetic and the independent oracle each give the documented numbers."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from devtools import oracle
from kpi.config import (
    CONVERSATION_FCR_DEFINITIONS,
    SERVICE_LEVEL_DEFINITIONS,
    KpiConfig,
    windows_from_text,
)
from kpi.conversation import contributions
from kpi.events import Event
from kpi.fcr import FCR_RULES
from kpi.rows import summarize
from tests.definitions import CASES, Case

T0 = 1_750_000_000_000
COMBOS = list(itertools.product(CONVERSATION_FCR_DEFINITIONS, SERVICE_LEVEL_DEFINITIONS))


def config(fcr: str, sla: str) -> KpiConfig:
    return KpiConfig(windows=windows_from_text("5m,1h"), frt_sla_ms=120_000,
                     short_abandon_ms=10_000, fcr_definition=fcr,
                     service_level_definition=sla)


def events(c: Case) -> list[Event]:
    return [Event(event_id=str(i), type=typ, t_ms=T0 + int(t * 1000), conversation_id="c",
                  queue="billing", **extra)  # type: ignore[arg-type]
            for i, (typ, t, extra) in enumerate(c.steps)]


def stream_row(c: Case, cfg: KpiConfig) -> dict[str, float | None]:
    fields: Counter[str] = Counter()
    for (_t, metric), n in contributions(events(c), cfg).items.items():
        fields[metric] += n
    return summarize(fields)


def oracle_row(c: Case, cfg: KpiConfig) -> dict[str, float | None]:
    facts = oracle.facts_of(events(c), cfg)
    return oracle.window_rows([facts], T0 - 1, T0 + 10 * 86_400_000, cfg)["*"]


@pytest.mark.parametrize(("fcr", "sla"), COMBOS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("side", [stream_row, oracle_row], ids=["stream", "oracle"])
def test_each_case_under_each_definition(side, case: Case, fcr: str,  # type: ignore[no-untyped-def]
                                         sla: str) -> None:
    row = side(case, config(fcr, sla))
    assert (row["fcr_eligible"], row["fcr_resolved"]) == case.fcr[fcr]
    assert (row["sla_samples"], _within(row)) == case.sla[sla]
    for key, value in case.counts.items():
        assert row[key] == value, key


def _within(row: dict[str, float | None]) -> int:
    ratio = row["frt_sla_ratio"]
    return 0 if ratio is None else round(ratio * float(row["sla_samples"] or 0))


def test_the_rules_cover_exactly_the_definitions() -> None:
    assert set(FCR_RULES) == set(CONVERSATION_FCR_DEFINITIONS)


def test_handoffs_count_as_escalations_only_when_configured() -> None:
    handoff = next(c for c in CASES if c.name.startswith("handoff"))
    cfg = KpiConfig(windows=windows_from_text("1h"), escalation_includes_handoffs=True)
    for side in (stream_row, oracle_row):
        row = side(handoff, cfg)
        assert (row["escalated_completed"], row["handoffs"]) == (1, 1)
        assert row["escalation_ratio"] == 1.0
        assert side(handoff, config("project", "first_response"))["escalation_ratio"] == 0.0
