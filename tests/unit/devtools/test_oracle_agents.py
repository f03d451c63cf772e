"""The agent oracle (devtools/oracle_agents.py) against numbers worked out by hand from
docs/kpis.md "Agents and staffing", and its Erlang C against published examples."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest

from devtools import oracle_agents as oa

T0 = 1_796_371_200_000  # 2026-12-04T08:00:00Z


def ms(m: float, s: float = 0) -> int:
    """08:mm:ss on 2026-12-04 (negative minutes: before 08:00) as epoch ms."""
    return T0 + round((m * 60 + s) * 1000)


def when(m: float, s: float = 0) -> str:
    return datetime.fromtimestamp(ms(m, s) / 1000, UTC).isoformat()


def status(agent: str, m: float, st: str, **kw: Any) -> dict[str, Any]:
    return {"event_id": f"{agent}:status:{m}:{st}", "type": "agent.status_changed",
            "agent_id": agent, "occurred_at": when(m), "status": st, **kw}


def contact(kind: str, agent: str, conv: str, m: float, **kw: Any) -> dict[str, Any]:
    return {"event_id": f"{agent}:{kind}:{conv}:{m}", "type": f"agent.{kind}",
            "agent_id": agent, "conversation_id": conv, "occurred_at": when(m), **kw}


def start(agent: str, conv: str, m: float, **kw: Any) -> dict[str, Any]:
    return contact("contact_started", agent, conv, m, **kw)


def end(agent: str, conv: str, m: float) -> dict[str, Any]:
    return contact("contact_ended", agent, conv, m)


def wrapped(agent: str, conv: str, m: float) -> dict[str, Any]:
    return contact("wrapup_ended", agent, conv, m)


def zeros(**kw: int) -> dict[str, int]:
    return {**dict.fromkeys(oa.GAUGE_KEYS, 0), **kw}


# ------------------------------------------------------------------ time


def test_parse_time_ms() -> None:
    assert oa.parse_time_ms("2026-12-04T08:00:00Z") == T0
    assert oa.parse_time_ms("2026-12-04T09:30:00+01:30") == T0
    assert oa.parse_time_ms("2026-12-04T02:00:00.250-06:00") == T0 + 250
    assert oa.parse_time_ms("2026-12-04t08:00:00.0005z") == T0  # half a ms: to even
    assert oa.parse_time_ms(1_796_371_200) == T0
    assert oa.parse_time_ms(1_796_371_200.25) == T0 + 250
    for bad in ("2026-12-04T08:00:00", "2026-02-30T08:00:00Z", True, None, float("nan")):
        with pytest.raises(ValueError):
            oa.parse_time_ms(bad)


# ------------------------------------------------------------------ gauges


def presence_history() -> list[dict[str, Any]]:
    return [
        status("a1", 0, "available", queues=["billing"], team="tier1"),
        status("a1", 10, "away"),
        status("a1", 20, "available"),
        status("a1", 30, "offline"),
        status("a2", 0, "available", queues=["billing", "tech", "billing"], team="tier2"),
        status("a2", 5, "busy"),
        status("a3", 60, "available", queues=["tech"], team="tier3"),  # not yet at 08:30
    ]


def test_presence_changes() -> None:
    evs = presence_history()
    # 08:00: a1 and a2 available, capacity 1 each (the default) and no contact: 2 slots
    g = oa.agent_gauges(evs, ms(0))
    assert g["*"] == zeros(agents_online=2, agents_available=2, agents_staffed=2,
                           agent_open_slots=2)
    assert g["queue=tech"] == zeros(agents_online=1, agents_available=1, agents_staffed=1,
                                    agent_open_slots=1)
    # 08:15: a1 away (online, not staffed); a2 busy with no contact reads on_contact, and a
    # busy presence has no open slot. a2 lists billing twice: it counts once there.
    g = oa.agent_gauges(evs, ms(15))
    assert g["*"] == zeros(agents_online=2, agents_on_contact=1, agents_away=1,
                           agents_staffed=1)
    assert g["queue=billing"] == g["*"]
    assert g["queue=tech"] == zeros(agents_online=1, agents_on_contact=1, agents_staffed=1)
    assert g["team=tier1"] == zeros(agents_online=1, agents_away=1)
    assert g["team=tier2"] == zeros(agents_online=1, agents_on_contact=1, agents_staffed=1)
    assert set(g) == {"*", "queue=billing", "queue=tech", "team=tier1", "team=tier2"}
    # 08:30 (an event at the instant counts): a1 offline still sits in its rows, at 0;
    # a3's first event is at 09:00, so it is in no row yet (no team=tier3 row)
    g = oa.agent_gauges(evs, ms(30), sets=((), ("team",), ("queue", "team")))
    assert g["team=tier1"] == zeros()
    assert g["queue=billing,team=tier1"] == zeros()
    assert g["*"] == zeros(agents_online=1, agents_on_contact=1, agents_staffed=1)
    assert set(g) == {"*", "team=tier1", "team=tier2", "queue=billing,team=tier1",
                      "queue=billing,team=tier2", "queue=tech,team=tier2"}
    # sets with another dimension are not gauge rows; dims named in the set's order
    g = oa.agent_gauges(evs, ms(15), sets=(("team", "queue"), ("channel",)))
    assert set(g) == {"team=tier1,queue=billing", "team=tier2,queue=billing",
                      "team=tier2,queue=tech"}
    assert oa.agent_gauges(evs, ms(-1)) == {}  # nobody has an event yet


def voice_history() -> list[dict[str, Any]]:
    return [
        status("b1", 0, "available", queues=["billing"], team="tier1", capacity=1),
        start("b1", "c1", 2, channel="voice", queue="billing"),
        end("b1", "c1", 6),
        wrapped("b1", "c1", 7),
        status("b1", 10, "away"),
        status("b1", 15, "available"),
    ]


def test_contact_with_wrapup() -> None:
    evs = voice_history()
    assert oa.agent_gauges(evs, ms(3))["*"] == zeros(
        agents_online=1, agents_on_contact=1, agents_staffed=1)  # slots 1 − 1 active = 0
    assert oa.agent_gauges(evs, ms(6, 30))["*"] == zeros(
        agents_online=1, agents_after_contact_work=1, agents_staffed=1)  # 1 − 1 in wrap-up
    assert oa.agent_gauges(evs, ms(8))["*"] == zeros(
        agents_online=1, agents_available=1, agents_staffed=1, agent_open_slots=1)
    w = oa.agent_windows(evs, ms(0), ms(20), ms(20))
    # available 08:00–08:02 (120 s) + 08:07–08:10 (180 s) + 08:15–08:20 (300 s) = 600 s;
    # handling 08:02–08:07 = 300 s (talk 240 + wrap-up 60); away 08:10–08:15 in neither.
    # occupancy 300 / (300 + 600) = 1/3, productive 900 s
    assert w["*"]["occupancy_ratio"] == pytest.approx(1 / 3)
    assert w["*"]["productive_seconds"] == 900.0
    # handle time: 08:07 − 08:02 = 300 s, placed at 08:07
    sample = {"handle_time_count": 1, "handle_time_sum_seconds": 300.0,
              "handle_time_mean_seconds": 300.0, "handle_time_samples": [300.0]}
    assert w["*"] == {"occupancy_ratio": pytest.approx(1 / 3), "productive_seconds": 900.0,
                      **sample}
    assert w["queue=billing"] == w["*"]
    assert w["channel=voice"] == sample  # channel rows have no occupancy
    assert w["queue=billing,channel=voice"] == sample
    assert set(w) == {"*", "queue=billing", "channel=voice", "queue=billing,channel=voice"}
    # seen at 08:05 the open contact runs until then: available 120 s, handling 180 s,
    # nothing ended yet
    w = oa.agent_windows(evs, ms(0), ms(20), ms(5))
    assert w["*"]["occupancy_ratio"] == pytest.approx(180 / 300)
    assert w["*"]["handle_time_count"] == 0 and w["*"]["handle_time_mean_seconds"] is None
    # the window [08:08, 08:20) misses the contact (ended 08:07): available 08:08–08:10
    # (120 s) + 08:15–08:20 (300 s), no handling; the state at 08:08 comes from before it
    w = oa.agent_windows(evs, ms(8), ms(20), ms(30), sets=((), ("team",)))
    assert w["team=tier1"] == {"occupancy_ratio": 0.0, "productive_seconds": 420.0,
                               "handle_time_count": 0, "handle_time_sum_seconds": 0.0,
                               "handle_time_mean_seconds": None, "handle_time_samples": []}


def chat_history() -> list[dict[str, Any]]:
    return [
        status("h1", 0, "available", queues=["chat_q"], team="chat", capacity=3),
        start("h1", "k1", 1, channel="chat"),  # no queue: the agent's first, chat_q
        start("h1", "k2", 3, channel="chat", queue="vip"),
        end("h1", "k1", 5),
        wrapped("h1", "k1", 6),
        wrapped("h1", "k2", 9),  # wrap-up end of an active contact: it ends at once
        end("h1", "k2", 9.5),  # then its end finds no contact: ignored
        status("h1", 10, "offline"),
    ]


def test_chat_agent_capacity_three() -> None:
    evs = chat_history()
    # presence stays available throughout; open slots = capacity − active − in wrap-up
    g = {m: oa.agent_gauges(evs, ms(m))["*"] for m in (2, 4, 5.5, 7, 9, 10)}
    assert g[2] == zeros(agents_online=1, agents_on_contact=1, agents_staffed=1,
                         agent_open_slots=2)  # k1: 3 − 1
    assert g[4] == zeros(agents_online=1, agents_on_contact=1, agents_staffed=1,
                         agent_open_slots=1)  # k1, k2: 3 − 2
    assert g[5.5] == g[4]  # k1 in wrap-up, k2 active: on contact, 3 − 1 − 1
    assert g[7]["agent_open_slots"] == 2  # k2 alone
    assert g[9] == zeros(agents_online=1, agents_available=1, agents_staffed=1,
                         agent_open_slots=3)
    assert g[10] == zeros()
    w = oa.agent_windows(evs, ms(0), ms(15), ms(15), sets=((), ("queue",), ("channel",),
                                                             ("team",)))
    # handling 08:01–08:09 = 480 s (one agent on two chats counts its time once);
    # available 08:00–08:01 + 08:09–08:10 = 120 s; offline after 08:10 in neither
    assert w["*"]["occupancy_ratio"] == pytest.approx(0.8)
    assert w["*"]["productive_seconds"] == 600.0
    # k1: 08:01 → 08:06 = 300 s; k2: 08:03 → 08:09 = 360 s; mean 660 / 2 = 330
    assert w["*"]["handle_time_samples"] == [300.0, 360.0]
    assert w["*"]["handle_time_mean_seconds"] == 330.0
    assert w["channel=chat"]["handle_time_sum_seconds"] == 660.0
    assert w["team=chat"]["handle_time_samples"] == [300.0, 360.0]
    assert w["queue=chat_q"]["handle_time_samples"] == [300.0]
    assert w["queue=chat_q"]["occupancy_ratio"] == pytest.approx(0.8)  # the agent's queue
    # k2's queue vip has a handle-time row; no agent served vip, so no productive time
    assert w["queue=vip"]["handle_time_samples"] == [360.0]
    assert w["queue=vip"]["occupancy_ratio"] is None
    assert w["queue=vip"]["productive_seconds"] == 0.0


def test_offline_ends_open_contacts() -> None:
    evs = [
        status("d1", 0, "available", queues=["billing"], team="tier1", capacity=2),
        start("d1", "x1", 1, channel="voice"),
        start("d1", "x2", 2, channel="email"),
        start("d1", "x1", 3, channel="email", queue="tech"),  # already active: nothing
        end("d1", "x1", 4),  # x1 in wrap-up
        status("d1", 5, "offline"),  # ends x1 (in wrap-up) and x2 (active) at 08:05
        wrapped("d1", "x1", 6),  # no such contact any more: ignored
        end("d1", "x2", 7),  # ignored
        end("d1", "ghost", 7),  # an end without a start: ignored
    ]
    assert oa.agent_gauges(evs, ms(4, 30))["*"] == zeros(
        agents_online=1, agents_on_contact=1, agents_staffed=1)  # slots 2 − 1 − 1
    assert oa.agent_gauges(evs, ms(5))["*"] == zeros()
    assert oa.agent_gauges(evs, ms(8))["*"] == zeros()
    w = oa.agent_windows(evs, ms(0), ms(10), ms(10))
    # x1: 08:05 − 08:01 = 240 s; x2: 08:05 − 08:02 = 180 s; both voice/email in billing
    assert w["*"]["handle_time_samples"] == [180.0, 240.0]
    assert w["queue=billing"]["handle_time_count"] == 2
    assert "queue=tech" not in w
    assert w["channel=voice"]["handle_time_samples"] == [240.0]
    # available 08:00–08:01 = 60 s, handling 08:01–08:05 = 240 s: 240 / 300 = 0.8
    assert w["*"]["occupancy_ratio"] == pytest.approx(0.8)
    assert w["*"]["productive_seconds"] == 300.0


def test_wrapup_end_without_contact_end() -> None:
    evs = [status("e1", 0, "available", queues=["tech"]),
           start("e1", "z1", 1, channel="email"),
           wrapped("e1", "z1", 4)]
    # never in wrap-up: on contact 08:01–08:04, then available; 180 s of handle time
    assert oa.agent_gauges(evs, ms(3))["*"]["agents_on_contact"] == 1
    assert oa.agent_gauges(evs, ms(4))["*"]["agents_available"] == 1
    w = oa.agent_windows(evs, ms(0), ms(5), ms(5), sets=((), ("team",)))
    assert w["*"]["handle_time_samples"] == [180.0]
    assert w["*"]["occupancy_ratio"] == pytest.approx(180 / 300)
    assert set(w) == {"*", "team=unknown"}  # no team: the team "unknown", as conversations


def test_order_and_duplicates_do_not_matter() -> None:
    evs = presence_history() + voice_history() + chat_history()
    rng = random.Random(7)
    shuffled = evs[:]
    rng.shuffle(shuffled)
    copies = shuffled + [dict(e) for e in rng.sample(evs, 8)]  # exact re-deliveries
    rng.shuffle(copies)
    for at in (ms(3), ms(6, 30), ms(9), ms(15), ms(30)):
        assert oa.agent_gauges(shuffled, at) == oa.agent_gauges(evs, at)
        assert oa.agent_gauges(copies, at) == oa.agent_gauges(evs, at)
    for other in (shuffled, copies):
        assert oa.agent_windows(other, ms(0), ms(20), ms(20)) == \
            oa.agent_windows(evs, ms(0), ms(20), ms(20))
    w = oa.agent_windows(copies, ms(0), ms(20), ms(20))
    assert w["*"]["handle_time_count"] == 3  # c1, k1, k2 once each
    # exact re-deliveries are harmless by the rules anyway (a second start of an active
    # contact changes nothing, ...); the same event_id with other content is not: were it
    # counted, a start at 08:08, after c1 was done, would open a new contact
    late = [*voice_history(), {**start("b1", "c1", 2), "occurred_at": when(8)}]
    assert oa.agent_windows(late, ms(0), ms(20), ms(20)) == \
        oa.agent_windows(voice_history(), ms(0), ms(20), ms(20))
    # an event the schema rejects (bad status) does not count
    bad = [*voice_history(), status("b1", 16, "lunch")]
    assert oa.agent_gauges(bad, ms(17)) == oa.agent_gauges(voice_history(), ms(17))


def test_ties_status_first_then_starts() -> None:
    # logged in and assigned in the same millisecond, listed the other way round: the
    # status change applies first, so the contact's default queue is the new one
    evs = [start("f1", "y1", 1, channel="voice"),
           status("f1", 1, "available", queues=["returns"], team="t"),
           wrapped("f1", "y1", 3),
           end("f1", "y1", 3)]  # same instant: end (wrap-up starts), then wrap-up end
    w = oa.agent_windows(evs, ms(0), ms(5), ms(5), sets=(("queue",), ("team",)))
    assert w["queue=returns"]["handle_time_samples"] == [120.0]
    assert w["team=t"]["handle_time_samples"] == [120.0]


# ------------------------------------------------------------------ Erlang C


def erlang_c_by_sums(n: int, a: Fraction) -> Fraction:
    """C(N, A) as Call Centre Helper writes it, exactly: X / (Y + X) with
    X = A^N / N! · N / (N − A) and Y = Σ_{i<N} A^i / i!."""
    x = a ** n / math.factorial(n) * n / (n - a)
    y = sum(a ** i / math.factorial(i) for i in range(n))
    return x / (y + x)


def test_recursion_matches_the_factorial_formula() -> None:
    for a in (Fraction(1, 2), Fraction(10), Fraction(229, 10), Fraction(20), Fraction(75, 2)):
        for n in range(math.floor(a) + 1, math.floor(a) + 12):
            assert oa.erlang_c_wait_probability(n, float(a)) == pytest.approx(
                float(erlang_c_by_sums(n, a)), rel=1e-12)
    assert oa.erlang_c_wait_probability(10, 10.0) == 1.0  # n ≤ A: everyone waits
    assert oa.erlang_c_service_level(10, 10.0, 180, 20) == 0.0
    assert oa.erlang_c_wait_probability(1, 0.8) == pytest.approx(0.8)  # M/M/1: C = ρ
    assert oa.erlang_c_wait_probability(300, 280.0) < 1  # no overflow at hundreds


def test_call_centre_helper_example() -> None:
    """Call Centre Helper, "Erlang C Formula – Made Simple With an Easy Worked Example",
    https://www.callcentrehelper.com/erlang-c-formula-example-121281.htm. Its inputs:
    "Number of calls: 100 / In a period of minutes: 30 / Average Handling Time (seconds):
    180 (3 minutes) / Required Service Level: 80% / Target Answer Time (Seconds): 20";
    "100 calls per 30 minutes equates to 200 calls per hour", "600 call minutes / 60 =
    10 call hours", i.e. 10 Erlangs, and the search starts at "N = A + 1 = 11".

    The page's table is reproduced by the ErlangC R package on CRAN (Damonsoul/ErlangC,
    README, calculate_agents on the same inputs, https://rdocumentation.org/packages/
    ErlangC/versions/0.1.0), whose $process lists per agents 11, 12, 13, 14:
    wait_probability 0.6821182, 0.4493882, 0.2852705, 0.1741319; service_level 0.3896138,
    0.640158, 0.7955948, 0.88835; average_speed_of_answer 122.78127684408 s,
    40.4449401868444 s, 17.1162271821896 s, 7.83593701177724 s; occupancy 0.9090909 …
    0.7142857; "$agents [1] 14" (88.8 % at 14 agents)."""
    traffic = 100 / (30 * 60) * 180
    assert traffic == pytest.approx(10.0)
    table = {11: (0.6821182, 0.3896138, 122.78127684408),
             12: (0.4493882, 0.640158, 40.4449401868444),
             13: (0.2852705, 0.7955948, 17.1162271821896),
             14: (0.1741319, 0.88835, 7.83593701177724)}
    for n, (pw, sl, asa) in table.items():
        c = oa.erlang_c_wait_probability(n, traffic)
        assert c == pytest.approx(pw, abs=5e-8)
        assert oa.erlang_c_service_level(n, traffic, 180, 20) == pytest.approx(sl, abs=5e-7)
        assert c * 180 / (n - traffic) == pytest.approx(asa, rel=1e-9)  # ASA = C·h/(N − A)
    assert round(oa.erlang_c_service_level(14, traffic, 180, 20) * 100, 1) == 88.8
    assert oa.agents_needed(100, 30 * 60, 180, 0.8, 20) == 14
    # the page's 85 % maximum occupancy does not bind: 10/14 = 71.4 %
    assert oa.agents_needed(100, 30 * 60, 180, 0.8, 20, max_occupancy=0.85) == 14


def test_jonesthenet_example() -> None:
    """jonesthenet, "Erlang uplift", http://www.jonesthenet.com/budgeting/service-levels-
    erlang/erlang-uplift/: "the “average hour” sees 250 calls. The accountant thinks you
    need 250 x 330 / 3600 = 22.9 advisors in this hour; Erlang (using our spreadsheet
    add-in) thinks we need 28 advisors to answer 80% of calls in 30 seconds." and "you
    need to employ 22% more people than the accountant said you would"."""
    traffic = 250 / 3600 * 330
    assert round(traffic, 1) == 22.9
    assert oa.agents_needed(250, 3600, 330, 0.8, 30) == 28
    assert oa.erlang_c_service_level(27, traffic, 330, 30) < 0.8
    assert round(28 / traffic - 1, 2) == 0.22


def test_phubers_erlang_vignette() -> None:
    """phubers/erlang R package vignette, "Erlang: Queuing and Staffing Functions for
    Contact Centers" (https://rdrr.io/github/phubers/erlang/f/vignettes/vignette.Rmd):
    "a workload of 200 calls per half hour and an average handling time of 3 minutes,
    means we'll have 20 calls in progress on average"; number_of_agents_for_sl(
    arrival_rate = 200, avg_handle_time = 180, interval_length = 30, wait_time = 60,
    service_level_goal = 0.8); "if we have a workload of 20 Erlang and we need 23 agents
    to hit our service level target, we get an occupancy of 20/23 or 87%"."""
    workload = 200 / 1800 * 180  # calls per second × seconds per call
    assert workload == pytest.approx(20.0)
    assert oa.agents_needed(200, 30 * 60, 180, 0.8, 60) == 23
    assert round(20 / 23 * 100) == 87


def test_call_center_tools_example() -> None:
    """call-center-tools on PyPI (https://pypi.org/project/call-center-tools/): "1000
    calls per hour. Average duration of call is 120 sec. Agents should be occupied max 85%
    of time. 80% of calls should be answered in 20 sec." → "Traffic intensity: 33.333
    Erlangs / Waiting probability: 19.07 % / Immediate answer: 80.93 % / Service level:
    93.72 % / Average speed of answer: 3.43 sec / Occupancy: 83.33 % / Agents: 40"."""
    traffic = 1000 / 3600 * 120
    c = oa.erlang_c_wait_probability(40, traffic)
    assert round(traffic, 3) == 33.333
    assert round(c * 100, 2) == 19.07
    assert round((1 - c) * 100, 2) == 80.93
    assert round(oa.erlang_c_service_level(40, traffic, 120, 20) * 100, 2) == 93.72
    assert round(c * 120 / (40 - traffic), 2) == 3.43
    assert oa.agents_needed(1000, 3600, 120, 0.8, 20, max_occupancy=0.85) == 40
    # here the occupancy cap is what binds: 38 agents already answer 84.7 % in 20 s, but
    # 33.333/38 = 87.7 % and 33.333/39 = 85.5 % are above 85 %; 33.333/40 = 83.3 %
    assert oa.agents_needed(1000, 3600, 120, 0.8, 20) == 38


def test_turbotab_example() -> None:
    """turbotab on PyPI (https://pypi.org/project/turbotab/0.2.0/): "turbotab staffing
    required --sla 0.80 --service-time 20 --calls-per-interval 25 --aht 180" → inputs
    "interval": 600.0, result "agents" … "value": 11."""
    assert oa.agents_needed(25, 600, 180, 0.8, 20) == 11  # A = 25/600·180 = 7.5
    assert oa.erlang_c_service_level(10, 7.5, 180, 20) < 0.8


def test_agents_needed_edges() -> None:
    assert oa.agents_needed(0, 900, 300, 0.99, 5) == 0
    # the search starts above A: ⌊A⌋ + 1, even for an integer A or a target of 0
    assert oa.agents_needed(100, 1800, 180, 0.0, 20) == 11  # A = 10
    assert oa.agents_needed(25, 600, 180, 0.0, 20) == 8  # A = 7.5
    # chat: 3 at once makes h/3 the service time, A = 100/1800·540/3 = 10, as the voice
    # example: 14 servers
    assert oa.agents_needed(100, 1800, 540, 0.8, 20, concurrency=3) == 14
    with pytest.raises(ValueError):
        oa.agents_needed(1, 60, 60, 1.5, 20)


# ------------------------------------------------------------------ staffing


def contacts(agent: str, queue: str, spans: list[tuple[float, float]],
             channel: str = "voice") -> list[dict[str, Any]]:
    out = []
    for i, (a, b) in enumerate(spans):
        conv = f"{agent}-{queue}-{i}"
        out += [start(agent, conv, a, channel=channel, queue=queue), wrapped(agent, conv, b)]
    return out


def floor_history() -> list[dict[str, Any]]:
    return [
        status("b1", -10, "available", queues=["billing"], team="tier1"),
        # billing: ended 07:58, before the window: not a sample
        *contacts("b1", "billing", [(-5, -2)]),
        # billing handle times 120, 150, 180 s (b1) and 210, 240 s (b2): mean 180
        *contacts("b1", "billing", [(1, 3), (5, 7.5), (10, 13)]),
        status("b2", -10, "available", queues=["billing"], team="tier1"),
        *contacts("b2", "billing", [(2, 5.5), (8, 12)]),
        *contacts("b2", "billing", [(27, 30)]),  # ends at 08:30 = hi: outside [lo, hi)
        status("b2", 25, "away"),
        # tech: 4 contacts of 300, 340, 380, 420 s (mean 360) by b3, who serves both
        status("b3", -10, "available", queues=["billing", "tech"], team="tier2"),
        *contacts("b3", "tech", [(0, 5), (6, 11 + 40 / 60), (12, 18 + 20 / 60), (19, 26)]),
        # chat, 2 at once: 300, 330, 360, 390, 420 s (mean 360)
        status("h1", -10, "available", queues=["chat"], team="chat", capacity=2),
        *contacts("h1", "chat", [(0, 5), (1, 6.5), (6, 12), (7, 13.5), (13, 20)], "chat"),
        status("r1", -10, "available", queues=["returns"], team="tier1"),
    ]


def test_staffing_end_to_end() -> None:
    created = {"billing": 100, "tech": 4, "chat": 200, "returns": 0, "sales": 3}
    targets = {"tech": {"answer_within_s": 30},
               "chat": {"answer_within_s": 60, "concurrency": 2}}
    default = {"service_level": 0.8, "answer_within_s": 20}
    out = oa.staffing(floor_history(), created, ms(0), ms(30), ms(30), targets, default)
    # staffed at 08:30: b1, b3, h1, r1 available; b2 away. billing: b1, b3; tech: b3
    # billing: λ = 100/1800 s, h = 900/5 = 180 s, A = 10: the Call Centre Helper example,
    # 14 agents; gap 14 − 2 = 12; with 2 ≤ A staffed the predicted service level is 0
    assert out["queue=billing"] == {
        "staffing_agents_needed": 14, "staffing_gap_agents": 12,
        "staffing_traffic_erlangs": pytest.approx(10.0),
        "staffing_service_level_predicted": 0.0, "staffing_handled_contacts": 5}
    # tech: 4 contacts behind h, fewer than 5: no value
    assert out["queue=tech"] == {
        "staffing_agents_needed": None, "staffing_gap_agents": None,
        "staffing_traffic_erlangs": None, "staffing_service_level_predicted": None,
        "staffing_handled_contacts": 4}
    # chat: h = 1800/5 = 360 s over 2 at once: 180 s per server, A = 200/1800·180 = 20:
    # the phubers example at 80 % in 60 s, 23; h1 alone staffed: gap 22
    assert out["queue=chat"]["staffing_agents_needed"] == 23
    assert out["queue=chat"]["staffing_gap_agents"] == 22
    assert out["queue=chat"]["staffing_traffic_erlangs"] == pytest.approx(20.0)
    # returns: nothing arrived: 0 needed whatever h; r1 staffed: gap −1; C(1, 0) = 0
    assert out["queue=returns"] == {
        "staffing_agents_needed": 0, "staffing_gap_agents": -1,
        "staffing_traffic_erlangs": 0.0, "staffing_service_level_predicted": 1.0,
        "staffing_handled_contacts": 0}
    # sales: 3 arrived, no agent and no contact: no value
    assert out["queue=sales"]["staffing_agents_needed"] is None
    assert out["queue=sales"]["staffing_handled_contacts"] == 0
    # floor: 14 + 23 + 0 (tech and sales have none) = 37; staffed b1, b3, h1, r1 = 4
    assert out["*"] == {"staffing_agents_needed": 37, "staffing_gap_agents": 33}
    assert set(out) == {"*", "queue=billing", "queue=tech", "queue=chat", "queue=returns",
                        "queue=sales"}


def test_staffing_min_contacts() -> None:
    created = {"billing": 100, "tech": 4, "chat": 200, "returns": 0, "sales": 3}
    targets = {"tech": {"answer_within_s": 30},
               "chat": {"answer_within_s": 60, "concurrency": 2}}
    out = oa.staffing(floor_history(), created, ms(0), ms(30), ms(30), targets,
                      {"service_level": 0.8}, min_contacts=4)
    # tech now has a value: h = 1440/4 = 360 s, A = 4/1800·360 = 0.8 erlang.
    # N = 1 (M/M/1, C = ρ = 0.8): SL = 1 − 0.8·e^(−0.2·30/360) = 1 − 0.8·0.98347 = 0.2132
    # N = 2 (C = 2ρ²/(1 + ρ), ρ = 0.4: 0.32/1.4 = 0.22857):
    #   SL = 1 − 0.22857·e^(−1.2·30/360) = 1 − 0.22857·0.904837 = 0.79318 < 0.8
    # N = 3 (B3 = 0.8·B2/(3 + 0.8·B2) with B2 = 0.150943: 0.038694;
    #   C = 3·0.038694/(3 − 0.8·0.961306) = 0.052032):
    #   SL = 1 − 0.052032·e^(−2.2·30/360) = 1 − 0.052032·0.832491 = 0.95668 ≥ 0.8 → 3
    # staffed b3: gap 2, predicted with 1 agent 0.2132
    tech = out["queue=tech"]
    assert tech["staffing_agents_needed"] == 3
    assert tech["staffing_gap_agents"] == 2
    assert tech["staffing_traffic_erlangs"] == pytest.approx(0.8)
    assert tech["staffing_service_level_predicted"] == pytest.approx(
        1 - 0.8 * math.exp(-0.2 * 30 / 360))
    assert oa.erlang_c_service_level(2, 0.8, 360, 30) == pytest.approx(
        1 - 0.32 / 1.4 * math.exp(-0.1))
    # floor: 14 + 23 + 0 + 3 = 40, gap 40 − 4 = 36
    assert out["*"] == {"staffing_agents_needed": 40, "staffing_gap_agents": 36}
    # with 6 required, billing (5) and chat (5) lose theirs too; returns keeps its 0
    out = oa.staffing(floor_history(), created, ms(0), ms(30), ms(30), targets, {},
                      min_contacts=6)
    assert out["*"] == {"staffing_agents_needed": 0, "staffing_gap_agents": -4}
    # and with no queue having a value the floor has none either (billing's agents only)
    billing = [e for e in floor_history() if e["agent_id"] in ("b1", "b2")]
    out = oa.staffing(billing, {"billing": 100}, ms(0), ms(30), ms(30), {}, {},
                      min_contacts=6)
    assert set(out) == {"*", "queue=billing"}
    assert out["*"] == {"staffing_agents_needed": None, "staffing_gap_agents": None}
