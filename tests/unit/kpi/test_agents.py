"""The agents' timeline (kpi.agents): hand-worked histories for every gauge and window
field, the trim that keeps what a window can still read, and agreement with the
independent oracle (devtools.oracle_agents) on randomized floors, however the events
arrive."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools import oracle_agents as oracle
from kpi import histogram
from kpi.agents import (
    CONTACT_ENDED,
    CONTACT_STARTED,
    STATUS_CHANGED,
    WRAPUP_ENDED,
    AgentEvent,
    gauge_rows,
    timeline,
    trim,
    window_fields,
)

S = 1000  # ms per second


def status(eid: str, agent: str, t: int, presence: str, **kw: object) -> AgentEvent:
    return AgentEvent(eid, STATUS_CHANGED, t * S, agent, presence, **kw)  # type: ignore[arg-type]


def contact(eid: str, typ: str, agent: str, t: int, cid: str, **kw: str) -> AgentEvent:
    return AgentEvent(eid, typ, t * S, agent, conversation_id=cid, **kw)


def chat_agent() -> list[AgentEvent]:
    """Capacity 3, two chats: open slots 3 → 2 → 1 → (one ends, wrap-up) 1 → 2."""
    return [
        status("s1", "ann", 0, "available", queues=("live",), team="chat", capacity=3),
        contact("c1", CONTACT_STARTED, "ann", 100, "A", channel="chat", queue="live"),
        contact("c2", CONTACT_STARTED, "ann", 200, "B", channel="chat"),
        contact("c3", CONTACT_ENDED, "ann", 300, "A"),
        contact("c4", WRAPUP_ENDED, "ann", 330, "A"),
        contact("c5", WRAPUP_ENDED, "ann", 400, "B"),  # no end: the wrap-up end ends it
        status("s2", "ann", 500, "away"),
        status("s3", "ann", 600, "offline"),
    ]


def test_a_chat_agents_states_and_open_slots() -> None:
    segments, samples = timeline(chat_agent())
    seen = [(s.t_ms // S, s.state, s.open_slots) for s in segments]
    assert seen == [(0, "available", 3), (100, "on_contact", 2), (200, "on_contact", 1),
                    (330, "on_contact", 2), (400, "available", 3), (500, "away", 0),
                    (600, "offline", 0)]
    # A: 100 → 330 (230 s, talk and wrap-up), queue live; B: 200 → 400, the agent's first
    # queue (live), channel chat
    assert [(s.end_ms // S, s.ms // S, s.queue, s.channel) for s in samples] == [
        (330, 230, "live", "chat"), (400, 200, "live", "chat")]
    # at 250: on contact with two chats open, one slot left
    rows = gauge_rows({"ann": segments}, 250 * S, [(), ("queue",), ("team",)])
    assert rows["*"] == {"agents_online": 1, "agents_available": 0, "agents_on_contact": 1,
                         "agents_after_contact_work": 0, "agents_away": 0,
                         "agents_staffed": 1, "agent_open_slots": 1}
    assert rows["queue=live"] == rows["team=chat"] == rows["*"]
    # at 700 offline: the rows exist and read 0
    assert set(gauge_rows({"ann": segments}, 700 * S, [()])["*"].values()) == {0}


def test_occupancy_counts_handling_over_handling_and_available_time() -> None:
    tl = timeline(chat_agent())
    # window [0, 1000 s), now 1000 s: handling 100..400 (300 s; on contact throughout),
    # available 0..100 and 400..500 (200 s), away 500..600 in neither, then offline
    f = window_fields({"ann": tl}, 0, 1000 * S, 1000 * S, [()])["*"]
    assert f["ag_h"] == 300 * S and f["ag_p"] == 500 * S
    assert f["aht_s"] == 430 * S
    assert f[f"aht_h:{histogram.bin_of_ms(230 * S)}"] == 1
    # a window [150 s, 350 s) cut inside the contacts: 200 s handling, no handle time ends
    # in it but A's (at 330 s)
    f = window_fields({"ann": tl}, 150 * S, 350 * S, 1000 * S, [()])["*"]
    assert f["ag_h"] == f["ag_p"] == 200 * S and f["aht_s"] == 230 * S


def test_an_open_state_runs_until_now_and_offline_ends_contacts() -> None:
    evs = [status("s1", "bob", 0, "available", queues=("q",)),
           contact("c1", CONTACT_STARTED, "bob", 60, "X"),
           status("s2", "bob", 90, "offline"),  # ends X: handle 30 s
           status("s3", "bob", 100, "busy")]  # busy with no contact reads on contact
    segments, samples = timeline(evs)
    assert [(s.ms // S, s.queue) for s in samples] == [(30, "q")]
    f = window_fields({"bob": (segments, samples)}, 0, 1000 * S, 130 * S, [("queue",)])
    # available 60 + on contact 30 + busy 100..130 (now) 30
    assert f["queue=q"]["ag_p"] == 120 * S and f["queue=q"]["ag_h"] == 60 * S


def test_out_of_order_and_duplicates_change_nothing() -> None:
    evs = chat_agent()
    shuffled = [*evs, evs[2], evs[5]]
    random.Random(3).shuffle(shuffled)
    assert timeline(shuffled) == timeline(evs)


def test_trim_keeps_the_state_a_window_reads_from() -> None:
    evs = [status("s1", "cy", 0, "available", queues=("a", "b"), team="t", capacity=2),
           contact("c1", CONTACT_STARTED, "cy", 100, "X", queue="a"),
           status("s2", "cy", 150, "away"),  # keeps queues, team and capacity
           contact("c2", CONTACT_STARTED, "cy", 160, "Y"),
           contact("c3", CONTACT_ENDED, "cy", 170, "Y"),
           contact("c4", WRAPUP_ENDED, "cy", 180, "Y"),
           status("s3", "cy", 300, "available"),
           contact("c5", CONTACT_ENDED, "cy", 400, "X")]
    kept = trim(evs, 250 * S)
    assert [e.event_id for e in kept] == ["c1", "s2", "s3", "c5"]
    assert kept[1].queues == ("a", "b") and kept[1].capacity == 2 and kept[1].team == "t"
    full, cut = timeline(evs), timeline(kept)
    for at in (250, 300, 350, 400, 450):
        assert gauge_rows({"cy": cut[0]}, at * S, [(), ("queue",)]) == \
            gauge_rows({"cy": full[0]}, at * S, [(), ("queue",)])
    assert window_fields({"cy": cut}, 250 * S, 500 * S, 500 * S, [("queue",)]) == \
        window_fields({"cy": full}, 250 * S, 500 * S, 500 * S, [("queue",)])


# -- agreement with the independent oracle on randomized floors ---------------------------

QUEUES, TEAMS, CHANNELS = ("a", "b", "c"), ("t1", "t2"), ("chat", "email")


@st.composite
def floors(draw: st.DrawFn) -> list[AgentEvent]:
    out: list[AgentEvent] = []
    for n in range(draw(st.integers(1, 3))):
        agent = f"ag{n}"
        t = 0
        open_: list[str] = []
        for i in range(draw(st.integers(1, 14))):
            t += draw(st.integers(0, 120))
            eid = f"{agent}-{i}"
            kind = draw(st.sampled_from(["status", "start", "end", "wrap"]))
            if kind == "status":
                out.append(AgentEvent(
                    eid, STATUS_CHANGED, t * S, agent,
                    draw(st.sampled_from(["available", "available", "busy",
                                          "after_contact_work", "away", "offline"])),
                    draw(st.none() | st.lists(st.sampled_from(QUEUES), max_size=2).map(tuple)),
                    draw(st.none() | st.sampled_from(TEAMS)),
                    draw(st.none() | st.integers(1, 3))))
                continue
            if kind == "start" or not open_:
                cid = f"{agent}-c{i}"
                open_.append(cid)
                out.append(AgentEvent(eid, CONTACT_STARTED, t * S, agent, conversation_id=cid,
                                      channel=draw(st.none() | st.sampled_from(CHANNELS)),
                                      queue=draw(st.none() | st.sampled_from(QUEUES))))
                continue
            cid = draw(st.sampled_from(open_))
            out.append(AgentEvent(eid, CONTACT_ENDED if kind == "end" else WRAPUP_ENDED,
                                  t * S, agent, conversation_id=cid))
    return out


def as_json(e: AgentEvent) -> dict[str, object]:
    doc: dict[str, object] = {"event_id": e.event_id, "type": e.type,
                              "occurred_at": e.t_ms / 1000, "agent_id": e.agent_id}
    for k in ("status", "team", "capacity", "conversation_id", "channel", "queue"):
        if getattr(e, k) is not None:
            doc[k] = getattr(e, k)
    if e.queues is not None:
        doc["queues"] = list(e.queues)
    return doc


def timelines(events: list[AgentEvent]) -> dict[str, tuple]:  # type: ignore[type-arg]
    by: dict[str, list[AgentEvent]] = {}
    for e in events:
        by.setdefault(e.agent_id, []).append(e)
    return {a: timeline(evs) for a, evs in by.items()}


@settings(max_examples=300, deadline=None)
@given(floors(), st.integers(0, 3000), st.randoms(use_true_random=False))
def test_gauges_agree_with_the_oracle(events: list[AgentEvent], at_s: int,
                                      rnd: random.Random) -> None:
    rnd.shuffle(events)
    sets = [(), ("queue",), ("team",)]
    ours = gauge_rows({a: t[0] for a, t in timelines(events).items()}, at_s * S, sets)
    theirs = oracle.agent_gauges([as_json(e) for e in events], at_s * S, sets)
    # rows reading 0 (offline agents only) may exist on one side alone
    assert {k: v for k, v in ours.items() if any(v.values())} == \
        {k: v for k, v in theirs.items() if any(v.values())}


@settings(max_examples=300, deadline=None)
@given(floors(), st.integers(0, 1500), st.integers(1, 1500), st.integers(0, 1500))
def test_window_fields_agree_with_the_oracle(events: list[AgentEvent], lo_s: int,
                                             length_s: int, after_s: int) -> None:
    lo, hi = lo_s * S, (lo_s + length_s) * S
    now = lo + after_s * S
    sets = [(), ("queue",), ("channel",), ("queue", "channel")]
    ours = window_fields(timelines(events), lo, hi, now, sets)
    theirs = oracle.agent_windows([as_json(e) for e in events], lo, hi, now, sets)
    for dk, row in theirs.items():
        f = ours.get(dk, {})
        if row.get("productive_seconds"):
            assert f.get("ag_p", 0) / 1000 == pytest.approx(row["productive_seconds"])
            assert f.get("ag_h", 0) / f["ag_p"] == pytest.approx(row["occupancy_ratio"])
        n = row.get("handle_time_count") or 0
        bins = sum(v for k, v in f.items() if k.startswith("aht_h:"))
        assert bins == n, dk
        if n:
            assert f["aht_s"] / 1000 == pytest.approx(row["handle_time_sum_seconds"])
    for dk, f in ours.items():  # nothing the oracle has not
        assert not f.get("ag_p") or theirs.get(dk, {}).get("productive_seconds"), dk
        assert not f.get("aht_s") or theirs.get(dk, {}).get("handle_time_count"), dk


@settings(max_examples=150, deadline=None)
@given(floors(), st.dictionaries(st.sampled_from(QUEUES), st.integers(0, 60), max_size=3),
       st.integers(300, 1500), st.integers(1, 3))
def test_the_staffing_need_agrees_with_the_oracle(events: list[AgentEvent],
                                                  created: dict[str, int], now_s: int,
                                                  min_contacts: int) -> None:
    """The whole path, events → handle times, staffed agents → each queue's need and the
    floor's, on randomized floors (targets per queue, chat concurrency included)."""
    from kpi.config import KpiConfig, WindowSpec
    from kpi.staffing import Staffing, Target
    from windows.agents import AgentView

    targets = {"a": Target(0.9, 30_000, 2.0), "b": Target(0.8, 60_000, 1.0, 0.85)}
    cfg = KpiConfig(windows=(WindowSpec("10m", 600_000, 60), WindowSpec("1h", 3_600_000, 60)),
                    staffing=Staffing(Target(0.8, 20_000), tuple(targets.items()), "10m",
                                      min_contacts))
    by: dict[str, list[AgentEvent]] = {}
    for e in events:
        by.setdefault(e.agent_id, []).append(e)
    view = AgentView.of_events(cfg, by)
    now, lo = now_s * S, now_s * S - 600_000
    gauges = view.gauges(now)
    ours = view.staffing(gauges, created, lo, now, [now - 3_600_000])
    theirs = oracle.staffing(
        [as_json(e) for e in events], created, lo, now, now,
        {q: {"service_level": t.service_level, "answer_within_s": t.answer_within_ms / 1000,
             "concurrency": t.concurrency, "max_occupancy": t.max_occupancy}
         for q, t in targets.items()},
        {"service_level": 0.8, "answer_within_s": 20.0}, min_contacts, [now - 3_600_000])
    keys = ("staffing_agents_needed", "staffing_gap_agents")
    for dk in {*ours, *theirs}:
        mine, other = ours.get(dk, {}), theirs.get(dk, {})
        for k in keys:
            assert mine.get(k) == other.get(k), (dk, k)
        if dk != "*" and other.get("staffing_service_level_predicted") is not None:
            assert mine["staffing_service_level_predicted"] == pytest.approx(
                other["staffing_service_level_predicted"], abs=1e-9), dk


def test_per_agent_rows_only_for_allow_listed_agents() -> None:
    ann = [status("a1", "ann", 0, "available", queues=("q",)),
           contact("a2", CONTACT_STARTED, "ann", 10, "X"),
           contact("a3", WRAPUP_ENDED, "ann", 40, "X")]
    bob = [status("b1", "bob", 0, "available", queues=("q",))]
    eve = [status("e1", "eve", 0, "away", queues=("q",))]
    tls = {"ann": timeline(ann), "bob": timeline(bob), "eve": timeline(eve)}
    f = window_fields(tls, 0, 100 * S, 100 * S, [("agent",)], allowlist={"ann"})
    assert set(f) == {"agent=ann", "agent=other"}  # bob is "other"; eve was never productive
    assert f["agent=ann"]["ag_h"] == 30 * S and f["agent=ann"]["ag_p"] == 100 * S
    assert f["agent=other"] == {"ag_p": 100 * S}
    g = gauge_rows({a: t[0] for a, t in tls.items()}, 50 * S, [("agent",)], {"ann"})
    assert g["agent=ann"]["agents_available"] == 1
    assert g["agent=other"]["agents_available"] == 1 and g["agent=other"]["agents_away"] == 1


def test_an_event_older_than_what_is_kept_is_late_and_the_rest_is_trimmed() -> None:
    from kpi.config import KpiConfig, WindowSpec
    from windows.agents import agent_retention_ms, merge_agent

    cfg = KpiConfig(windows=(WindowSpec("1h", 3_600_000, 60),), allowed_lateness_ms=600_000)
    assert agent_retention_ms(cfg) == 4_200_000  # the longest window and the lateness
    day = [status(f"s{i}", "ann", i * 600, "available" if i % 2 else "away",
                  queues=("q",)) for i in range(20)]  # every 10 minutes for 3 h 10 min
    kept, late = merge_agent(cfg, [], day)
    assert not late
    # newest at 11,400 s: kept from 11,400 − 4,200 = 7,200 s on, and the status in force
    assert [e.event_id for e in kept] == ["s11", *(f"s{i}" for i in range(12, 20))]
    old = status("old", "ann", 7000, "offline")
    kept2, late = merge_agent(cfg, kept, [old, status("s20", "ann", 12_000, "away")])
    assert late == [old] and kept2[-1].event_id == "s20"


def test_a_queue_whose_agents_left_takes_its_handle_time_from_a_longer_window() -> None:
    """An outage: the queue's agents all went offline 20 minutes ago, so no contact ended
    in the 15m staffing window; its need comes from the hour's five handle times (300 s)."""
    from kpi.config import KpiConfig, WindowSpec
    from kpi.staffing import Staffing, Target
    from windows.agents import AgentView

    cfg = KpiConfig(windows=(WindowSpec("15m", 900_000, 60), WindowSpec("1h", 3_600_000, 60)),
                    staffing=Staffing(Target(), (), "15m", 5))
    evs = [status("s", "ann", 0, "available", queues=("q",))]
    for i in range(5):
        evs += [contact(f"a{i}", CONTACT_STARTED, "ann", 600 * i, f"c{i}"),
                contact(f"w{i}", WRAPUP_ENDED, "ann", 600 * i + 300, f"c{i}")]
    evs.append(status("off", "ann", 2700, "offline"))
    view = AgentView.of_events(cfg, {"ann": evs})
    now = 3600 * S
    gauges = view.gauges(now)
    silent = view.staffing(gauges, {"q": 30}, now - 900_000, now)["queue=q"]
    assert silent["staffing_agents_needed"] is None  # 15m alone: no handle time
    row = view.staffing(gauges, {"q": 30}, now - 900_000, now, [now - 3_600_000])["queue=q"]
    # 30 arrivals in 900 s of 300 s each: A = 10 erlangs; within 20 s, 13 agents answer
    # 76.6% and 14 agents 86.7% → 14; none staffed: gap 14
    assert row["staffing_handled_contacts"] == 5
    assert row["staffing_agents_needed"] == 14 and row["staffing_gap_agents"] == 14
