"""The staffing need (kpi.staffing): Erlang C through pyworkforce against published
examples, the search that starts below pyworkforce's own, the queue and floor rows, the
targets file's mistakes, and agreement with the independent oracle on randomized queues."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools import oracle_agents as oracle
from kpi.errors import ConfigError
from kpi.staffing import (
    GAP,
    HANDLED,
    NEEDED,
    PREDICTED,
    TRAFFIC,
    Target,
    agents_needed,
    floor_staffing,
    parse_staffing,
    queue_staffing,
    service_level,
)


@pytest.mark.parametrize(("arrivals", "window_s", "aht_s", "target", "needed", "source"), [
    # Call Centre Helper, "Erlang C formula - example": 100 calls in 30 minutes, AHT 180 s,
    # 80% answered in 20 s → 10 erlangs, 14 agents (service level 88.8%)
    # https://www.callcentrehelper.com/erlang-c-formula-example-121281.htm
    (100, 1800, 180, Target(0.8, 20_000), 14, "callcentrehelper"),
    # phubers/erlang vignette: 200 calls per half hour, 3 minutes, 80% within 60 s → 23
    (200, 1800, 180, Target(0.8, 60_000), 23, "phubers/erlang"),
    # jonesthenet, "Erlang uplift": 250 calls an hour, AHT 330 s, 80% in 30 s → 28
    # http://www.jonesthenet.com/budgeting/service-levels-erlang/erlang-uplift/
    (250, 3600, 330, Target(0.8, 30_000), 28, "jonesthenet"),
    # call-center-tools (PyPI) README: 1000 calls an hour, 120 s, 80% in 20 s, at most 85%
    # occupancy → 40 agents (the service level alone would take 38)
    (1000, 3600, 120, Target(0.8, 20_000, max_occupancy=0.85), 40, "call-center-tools"),
    # turbotab (PyPI) README: 25 calls per 600 s, 180 s, 80% in 20 s → 11
    (25, 600, 180, Target(0.8, 20_000), 11, "turbotab"),
])
def test_published_erlang_c_examples(arrivals: int, window_s: int, aht_s: int,
                                     target: Target, needed: int, source: str) -> None:
    n, traffic = agents_needed(arrivals, window_s, aht_s, target)
    assert n == needed, source
    assert traffic == pytest.approx(arrivals / window_s * aht_s)
    assert n == oracle.agents_needed(arrivals, window_s, aht_s, target.service_level,
                                     target.answer_within_ms / 1000,
                                     max_occupancy=target.max_occupancy)


def test_the_call_centre_helper_service_levels() -> None:
    # the page's table: 13 agents answer 79.6% within 20 s, 14 agents 88.8%
    assert service_level(13, 100, 1800, 180, Target()) == pytest.approx(0.7956, abs=1e-4)
    assert service_level(14, 100, 1800, 180, Target()) == pytest.approx(0.8884, abs=1e-4)
    assert service_level(10, 100, 1800, 180, Target()) == 0.0  # 10 erlangs: never keeps up


def test_the_search_starts_at_the_first_agent_above_the_traffic() -> None:
    # A = 0.6 erlangs (one contact of 300 s every 500 s) with a lenient target, 50% within
    # 10 minutes: one agent answers 1 − 0.6·e^(−0.4·2) = 73% (pyworkforce's own search
    # starts at round(A + 1) = 2 and would say 2)
    target = Target(0.5, 600_000)
    assert service_level(1, 6, 3000, 300, target) == pytest.approx(1 - 0.6 * 2.718281828 ** -0.8)
    assert agents_needed(6, 3000, 300, target) == (1, pytest.approx(0.6))
    from pyworkforce.queuing import ErlangC

    assert ErlangC(6, 300, 600, 3000).required_positions(0.5)["raw_positions"] == 2


def test_chat_concurrency_divides_the_handle_time() -> None:
    # 200 chats per half hour of 540 s worked 3 at a time: 180 s per Erlang server, as
    # phubers' 200 calls of 180 s → 23
    assert agents_needed(200, 1800, 540, Target(0.8, 60_000, concurrency=3))[0] == 23


def test_queue_rows_need_enough_handle_times() -> None:
    t = Target()
    few = queue_staffing(6, 900, [300_000] * 2, 4, t, min_contacts=5)
    assert few == {HANDLED: 2, NEEDED: None, GAP: None, TRAFFIC: None, PREDICTED: None}
    quiet = queue_staffing(0, 900, [], 3, t, min_contacts=5)  # nothing arrived
    assert quiet[NEEDED] == 0 and quiet[GAP] == -3 and quiet[PREDICTED] == 1.0
    row = queue_staffing(100, 1800, [180_000] * 5, 11, t, min_contacts=5)
    assert row[NEEDED] == 14 and row[GAP] == 3 and row[TRAFFIC] == pytest.approx(10)
    assert row[PREDICTED] == pytest.approx(0.3896, abs=1e-4)  # 11 agents: 39.0%
    floor = floor_staffing({"queue=a": row, "queue=b": quiet, "queue=c": few}, 12)
    assert floor[NEEDED] == 14 and floor[GAP] == 2


def test_the_targets_file_and_its_mistakes() -> None:
    st_ = parse_staffing("default: {service_level: 0.9, answer_within: 30s}\n"
                         "queues:\n  chat: {concurrency: 2.5, max_occupancy: 0.85}\n")
    assert st_.target("email") == Target(0.9, 30_000)
    assert st_.target("chat") == Target(0.8, 20_000, 2.5, 0.85)
    assert parse_staffing("").target("x") == Target()
    for text, says in [
        ("queues:\n  chat: {service_level: 80}\n", "queues.chat.service_level"),
        ("queues:\n  chat: {answer_within: soon}\n", "queues.chat.answer_within"),
        ("default: {concurrency: 0}\n", "default.concurrency"),
        ("defaults: {}\n", "defaults"),
        ("queues: [\n", "not valid YAML"),
    ]:
        with pytest.raises(ConfigError) as err:
            parse_staffing(text, "staffing.yml")
        assert says in str(err.value) and "\n" not in str(err.value)
        assert str(err.value).startswith("staffing.yml:")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 400), st.sampled_from([900, 1800, 3600]),
       st.lists(st.integers(10_000, 900_000), min_size=0, max_size=12),
       st.integers(0, 30), st.floats(0.5, 0.95), st.integers(5, 180),
       st.sampled_from([1.0, 2.0, 2.5]), st.sampled_from([1.0, 0.85]))
def test_queue_staffing_agrees_with_the_oracle(arrivals: int, window_s: int,
                                               handles: list[int], staffed: int,
                                               sl: float, within_s: int, conc: float,
                                               occ: float) -> None:
    target = Target(sl, within_s * 1000, conc, occ)
    ours = queue_staffing(arrivals, window_s, handles, staffed, target, min_contacts=3)
    if ours[NEEDED] is None:
        assert arrivals and len(handles) < 3
        return
    handle_s = sum(handles) / len(handles) / 1000 if handles else 0.0
    if arrivals and handle_s:
        assert ours[NEEDED] == oracle.agents_needed(arrivals, window_s, handle_s, sl,
                                                    within_s, conc, occ)
        a = arrivals / window_s * handle_s / conc
        assert ours[PREDICTED] == pytest.approx(
            oracle.erlang_c_service_level(staffed, a, handle_s / conc, within_s), abs=1e-9)
    else:
        assert ours[NEEDED] == 0
