"""SLA policy targets on hand-worked histories: met, breached, paused then resumed, and
reopened, each counted exactly as worked out here by the stream's arithmetic and by the
oracle; a running target's deadline; the policies file's one-line errors."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from devtools import oracle
from kpi.config import KpiConfig
from kpi.conversation import contributions, live_state
from kpi.errors import ConfigError
from kpi.events import Event
from kpi.policies import parse_policies
from kpi.rows import summarize
from tests.sla_cases import AGENT, CASES, CFG, CUSTOMER, PENDING, T0, H, M, Step, events


def stream_row(evs: list[Event], cfg: KpiConfig, lo: int = 0, hi: int = 2**62
               ) -> dict[str, float | None]:
    fields: Counter[str] = Counter()
    for (t, metric), n in contributions(evs, cfg).items.items():
        if lo <= t < hi:
            fields[metric] += n
    return summarize(fields)


def oracle_row(evs: list[Event], cfg: KpiConfig, lo: int = 0, hi: int = 2**62
               ) -> dict[str, float | None]:
    return oracle.window_rows([oracle.facts_of(evs, cfg)], lo, hi, cfg).get("*", {})


SIDES = pytest.mark.parametrize("side", [stream_row, oracle_row], ids=["stream", "oracle"])


@SIDES
@pytest.mark.parametrize("name", list(CASES))
def test_each_target_is_met_or_breached_as_worked_out(side, name: str) -> None:  # type: ignore[no-untyped-def]
    steps, want = CASES[name]
    row = side(events(steps), CFG)
    for target, (met, breached) in want.items():
        assert (row[f"sla_{target}_met"], row[f"sla_{target}_breached"]) == (met, breached), \
            target
        n = met + breached
        assert row[f"sla_{target}_samples"] == n
        assert row[f"sla_{target}_ratio"] == (met / n if n else None)


@SIDES
def test_a_reopen_moves_the_resolution_sample_to_the_last_solve(side) -> None:  # type: ignore[no-untyped-def]
    evs = events(CASES["reopened"][0])
    assert side(evs, CFG, T0, T0 + 2 * H).get("sla_resolution_samples", 0) == 0
    assert side(evs, CFG, T0 + 22 * H, T0 + 24 * H)["sla_resolution_met"] == 1


@SIDES
def test_the_first_matching_policy_applies(side) -> None:  # type: ignore[no-untyped-def]
    # vip: first reply within 15 min, nothing else; the reply at 20 min breaches it
    row = side(events(CASES["met"][0], priority="urgent"), CFG)
    assert (row["sla_first_reply_met"], row["sla_first_reply_breached"]) == (0, 1)
    assert row["sla_next_reply_samples"] == row["sla_resolution_samples"] == 0
    no_policy = dataclasses.replace(CFG, policies=parse_policies(
        "policies: [{name: p, match: {queue: sales}, targets: {first_reply: 1h}}]"))
    assert side(events(CASES["met"][0]), no_policy)["sla_first_reply_samples"] == 0


def test_running_targets_and_their_deadline() -> None:
    steps: list[Step] = [("ticket.created", 0, {}), ("ticket.message", 10 * M, AGENT),
                         ("ticket.message", 60 * M, CUSTOMER)]
    live = live_state(events(steps), CFG)
    facts = oracle.facts_of(events(steps), CFG)
    # next reply due 30 min after the customer's message, resolution 4 h after created
    assert live.running == ("next_reply", "resolution") and set(facts.running) == \
        {"next_reply", "resolution"}
    assert live.deadline == facts.deadline == T0 + 90 * M
    paused = [*steps, ("ticket.status_changed", 70 * M, PENDING)]
    live = live_state(events(paused), CFG)
    assert live.running == () and live.deadline is None  # both clocks stand still
    assert oracle.facts_of(events(paused), CFG).deadline is None
    resumed = [*paused, ("ticket.status_changed", 130 * M, {"status": "on_hold"})]
    live = live_state(events(resumed), CFG)
    # 10 min ran before the pause, 20 more are left from 02:10
    assert live.deadline == oracle.facts_of(events(resumed), CFG).deadline == T0 + 150 * M


@pytest.mark.parametrize(("text", "says"), [
    ("policies: []", "policies: List should have at least 1 item"),
    ("policies: [{name: a, targets: {}}]", "policies.a.targets: a policy needs at least"),
    ("policies: [{name: a, targets: {first_response: 1h}}]", "policies.a.targets."
     "first_response"),
    ("policies: [{name: a, targets: {first_reply: soon}}]", "not a duration: 'soon'"),
    ("policies: [{name: a, match: {agent: x}, targets: {first_reply: 1h}}]",
     "policies.a.match.agent"),
    ("policies: [{name: a, targets: {first_reply: 1h}}, {name: a, targets: "
     "{first_reply: 2h}}]", "policy name 'a' is used twice"),
])
def test_policy_file_mistakes_are_one_line(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_policies(text, "p.yml")
    assert says in str(err.value) and "\n" not in str(err.value), str(err.value)
