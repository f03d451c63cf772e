"""The simulated floor's agents (devtools/simulate_agents.py): coherent contacts, capacity,
shifts and breaks valid per schema v1.3, staffing that meets the worker's Erlang C need on
a calm floor, and an incident that takes a queue's agents away until it ends.

The staffing checks read the agents as the worker does (kpi.agents' timelines and gauges,
kpi.staffing's need from a window's arrivals and handle times)."""

from __future__ import annotations

import bisect
import functools
import itertools
import json
from collections import Counter, defaultdict
from pathlib import Path

from devtools import simulate as sim
from devtools import simulate_agents as ag
from kpi.agents import AgentEvent, Segment, gauge_rows, timeline
from kpi.staffing import Target, load_staffing, queue_staffing
from streams.agent_schema import validate_agent
from streams.schema import SchemaConfig

ROOT = Path(__file__).resolve().parents[3]
DAY = 86_400_000
START = 20_000 * DAY + 5 * sim.HOUR_MS  # 05:00 UTC: the night, the morning rise, the peak
HOURS = 10
END = START + HOURS * 3_600_000
Events = list[dict[str, object]]


@functools.cache
def floor(rate: float = 10.0, incident: str = "") -> tuple[Events, int]:
    """A day-profile floor of ``HOURS`` hours from ``START`` with its agents, and how many
    contacts found no agent with a free slot."""
    incidents = (sim.incident_from_text(incident, START),) if incident else ()
    p = sim.FloorParams(seed=7, rate_per_min=rate, profile=sim.DAY_PROFILE,
                        incidents=incidents)
    conversations = sim.generate(p, START, END)
    agents = ag.AgentFloor(p, START, END)
    out: Events = []
    for e in conversations:
        out += agents.feed(e)
        out.append(e)
    out += agents.finish(END)
    return out, agents.unrouted


def agent_events(events: Events) -> Events:
    return [e for e in events if str(e["type"]).startswith("agent.")]


def ms(e: dict[str, object]) -> int:
    return round(float(e["occurred_at"]) * 1000)  # type: ignore[arg-type]


def test_agents_come_alongside_the_conversations_and_never_change_them() -> None:
    p = sim.FloorParams(seed=3, rate_per_min=20)
    plain = sim.generate(p, 0, 2 * sim.HOUR_MS)
    with_agents = ag.generate(p, 0, 2 * sim.HOUR_MS)
    assert [e for e in with_agents if not str(e["type"]).startswith("agent.")] == plain
    assert len(agent_events(with_agents)) > len(plain) // 10
    live = list(ag.live(p, 0, 1_200_000))
    assert [e for e in live if not str(e["type"]).startswith("agent.")] == list(
        sim.live(p, 0, 1_200_000))
    assert [ms(e) for e in live] == sorted(ms(e) for e in live)
    assert len({e["event_id"] for e in live}) == len(live)


def test_every_event_is_a_valid_v13_agent_event() -> None:
    events, _ = floor()
    cfg = SchemaConfig()
    for e in agent_events(events):
        validate_agent(json.dumps(e).encode(), cfg, lambda: 2**62)
    types = Counter(str(e["type"]) for e in agent_events(events))
    assert types["agent.contact_started"] > 1000
    assert {e["status"] for e in agent_events(events) if "status" in e} == {
        "available", "away", "offline"}


def test_each_handled_conversation_gets_one_coherent_contact_per_pick_up() -> None:
    events, unrouted = floor()
    assert unrouted == 0  # a calm floor always has an agent with a free slot
    conv: dict[str, dict[str, object]] = {}
    replies: dict[str, list[int]] = defaultdict(list)
    for e in events:
        if e["type"] in ("ticket.created", "chat.started"):
            conv[str(e["conversation_id"])] = e
        elif str(e["type"]).endswith(".message") and e.get("actor") == "agent":
            replies[str(e["conversation_id"])].append(ms(e))
    contacts: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    for e in agent_events(events):
        if "conversation_id" in e:
            contacts[(str(e["agent_id"]), str(e["conversation_id"]))].append(e)
    assert {cid for _, cid in contacts} == set(replies)  # every answered one, no other
    for (agent, cid), evs in contacts.items():
        types = [e["type"] for e in evs]
        assert types == ["agent.contact_started", "agent.contact_ended",
                         "agent.wrapup_ended"] * (len(types) // 3) + types[len(types) // 3 * 3:]
        if len(types) % 3:  # cut by the end of the floor
            assert ms(evs[-1]) > END - ag.CONTACT_MAX_MS, (agent, cid, types)
        for start, end, done in zip(evs[::3], evs[1::3], evs[2::3], strict=False):
            assert ms(start) in replies[cid]  # picked up at an agent's reply
            assert (start["queue"], start["channel"]) == (conv[cid]["queue"],
                                                          conv[cid]["channel"])
            assert ms(start) <= ms(end) <= ms(start) + ag.CONTACT_MAX_MS
            assert 20_000 < ms(done) - ms(end) < 180_000  # the wrap-up, ~45-90 s


def test_agents_take_contacts_only_while_available_and_within_capacity() -> None:
    events, _ = floor()
    presence: dict[str, str] = {}
    capacity: dict[str, int] = {}
    open_: dict[str, set[str]] = defaultdict(set)
    busiest = Counter[str]()
    for e in agent_events(events):  # in time order
        a = str(e["agent_id"])
        if e["type"] == "agent.status_changed":
            if a not in presence:  # a shift's first event says who the agent is
                assert e["status"] == "available" and e["team"] in sim.TEAMS
                assert capacity.setdefault(a, int(e["capacity"])) == ag.STAFFING_TARGETS[  # type: ignore[call-overload]
                    e["queues"][0]][2]  # type: ignore[index]
            presence[a] = str(e["status"])
            if e["status"] == "offline":
                assert not open_[a]  # a shift ends once its contacts are wrapped up
        elif e["type"] == "agent.contact_started":
            assert presence[a] == "available" and len(open_[a]) < capacity[a]
            open_[a].add(str(e["conversation_id"]))
            busiest[a] = max(busiest[a], len(open_[a]))
        elif e["type"] == "agent.wrapup_ended":
            open_[a].remove(str(e["conversation_id"]))
    assert max(busiest.values()) > 1  # several contacts at once


def test_shifts_and_breaks() -> None:
    events, _ = floor()
    statuses: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for e in agent_events(events):
        if e["type"] == "agent.status_changed":
            statuses[str(e["agent_id"])].append((ms(e), str(e["status"])))
    breaks, shifts = [], []
    for seq in statuses.values():
        for (t0, s0), (t1, s1) in itertools.pairwise(seq):
            assert s0 != s1
            if s0 == "away" and s1 == "available":
                breaks.append(t1 - t0)
            if s0 == "offline":
                assert s1 == "available"  # back for a new shift
        starts = [t for i, (t, s) in enumerate(seq) if s == "available"
                  and (i == 0 or seq[i - 1][1] == "offline")]
        ends = [t for t, s in seq if s == "offline"]
        shifts += [e - s for s, e in zip(starts, ends, strict=False) if s > START]
    assert set(breaks) == {900_000, 1_800_000}  # two 15-minute breaks and a lunch
    assert len(shifts) > 20 and max(shifts) <= 9.5 * sim.HOUR_MS


def test_the_staffing_targets_are_deploy_staffing_yml() -> None:
    deployed = load_staffing(ROOT / "deploy" / "staffing.yml")
    for queue, _ in sim.QUEUES:
        sl, within_s, conc, occ = ag.STAFFING_TARGETS[queue]
        assert deployed.target(queue) == Target(sl, int(within_s * 1000), conc, occ)


class Worker:
    """The staffing need as the worker reads it, for one queue: every agent's timeline
    (kpi.agents), the arrivals and handle times of a window, kpi.staffing's need."""

    def __init__(self, events: Events, queue: str, window_ms: int) -> None:
        by: dict[str, list[AgentEvent]] = defaultdict(list)
        for e in agent_events(events):
            by[str(e["agent_id"])].append(AgentEvent(
                str(e["event_id"]), str(e["type"]), ms(e), str(e["agent_id"]),
                e.get("status"), tuple(e["queues"]) if "queues" in e else None,  # type: ignore[arg-type]
                e.get("team"), e.get("capacity"), e.get("conversation_id"),  # type: ignore[arg-type]
                e.get("channel"), e.get("queue")))  # type: ignore[arg-type]
        lines = {a: timeline(evs) for a, evs in by.items()}
        self.segments: dict[str, list[Segment]] = {a: s for a, (s, _) in lines.items()}
        self.handled = sorted((s.end_ms, s.ms) for _, ss in lines.values() for s in ss
                              if s.queue == queue)
        self.created = sorted(ms(e) for e in events if e.get("queue") == queue
                              and e["type"] in ("ticket.created", "chat.started"))
        self.queue, self.window_ms = queue, window_ms
        sl, within_s, conc, occ = ag.STAFFING_TARGETS[queue]
        self.target = Target(sl, int(within_s * 1000), conc, occ)

    def staffed(self, at_ms: int) -> int:
        rows = gauge_rows(self.segments, at_ms, [("queue",)])
        return rows.get(f"queue={self.queue}", {}).get("agents_staffed", 0)

    def gap(self, at_ms: int) -> float | None:
        lo = at_ms - self.window_ms
        arrivals = bisect.bisect_left(self.created, at_ms) - bisect.bisect_left(self.created, lo)
        handled = [h for _, h in self.handled[bisect.bisect_left(self.handled, (lo, -1)):
                                               bisect.bisect_left(self.handled, (at_ms, -1))]]
        row = queue_staffing(arrivals, self.window_ms / 1000, handled, self.staffed(at_ms),
                             self.target, 5)
        return row["staffing_gap_agents"]


def test_the_calm_floor_is_staffed_above_its_erlang_c_need() -> None:
    """Every 5 minutes, in every queue: never short of an agent over the demo's hour, and
    never of UnderstaffedQueue's 2 over the default 15 minutes."""
    events, _ = floor()
    for queue, _ in sim.QUEUES:
        for window_ms, worst in ((3_600_000, 0), (900_000, 1)):
            w = Worker(events, queue, window_ms)
            gaps = [w.gap(t) for t in range(START + window_ms, START + HOURS * sim.HOUR_MS,
                                            300_000)]
            assert max(g for g in gaps if g is not None) <= worst, (queue, window_ms)
            assert sum(g is None for g in gaps) < len(gaps) / 4


def test_an_incident_takes_its_queues_agents_away_until_it_ends() -> None:
    t0 = START + 4 * sim.HOUR_MS
    events, _ = floor(incident="technical@4h+45m")
    calm, _ = floor()
    w = Worker(events, "technical", 3_600_000)
    need = ag.staffing_plan(10.0, sim.DAY_PROFILE, "technical", t0)[0]
    during = [w.staffed(t) for t in range(t0, t0 + 2_700_000, 60_000)]
    assert w.staffed(t0 - 60_000) > need + 10
    assert max(during) <= need * ag.INCIDENT_KEEP  # most of them offline, at once
    assert min(w.gap(t) or 0 for t in range(t0, t0 + 2_700_000, 60_000)) >= 2
    assert w.staffed(t0 + 2_700_000) > need + 10  # back when it ends
    assert max(w.gap(t) or 0 for t in range(t0 + 2_700_000, t0 + 3 * 3_600_000, 300_000)) <= 0

    def offline(evs: Events) -> set[str]:
        return {str(e["agent_id"]) for e in agent_events(evs) if ms(e) == t0
                and e.get("status") == "offline"}

    assert len({a for a in offline(events) if a.startswith("technical-")}) > 30
    assert offline(events) - offline(calm) == {a for a in offline(events) - offline(calm)
                                               if a.startswith("technical-")}
    # the other queues are untouched until then, and as well staffed after
    for queue in ("billing", "accounts", "sales"):
        before, calm_floor = Worker(events, queue, 3_600_000), Worker(calm, queue, 3_600_000)
        assert all(before.staffed(t) == calm_floor.staffed(t)
                   for t in range(START, t0, 600_000)), queue
        assert max(before.gap(t) or 0 for t in range(t0, START + HOURS * sim.HOUR_MS,
                                                     300_000)) <= 0, queue


def test_route_sends_agent_events_to_the_agents_topic_or_drops_them() -> None:
    events = ag.generate(sim.FloorParams(seed=2, rate_per_min=10), 0, sim.HOUR_MS)
    agents = agent_events(events)
    plain = list(sim.route([e for e in events if e not in agents], "tickets", "chats"))
    assert list(sim.route(events, "tickets", "chats")) == plain
    routed = list(sim.route(events, "tickets", "chats", "agents"))
    assert [r for r in routed if r[0] != "agents"] == plain
    to_agents = [(k, json.loads(v)) for t, k, v in routed if t == "agents"]
    assert [e for _, e in to_agents] == agents
    assert all(k == str(e["agent_id"]).encode() for k, e in to_agents)


def test_the_sender_plays_agent_events_to_the_agents_topic_when_it_has_one() -> None:
    import random

    from devtools.play import Sender

    class Producer:
        def __init__(self) -> None:
            self.sent: list[tuple[str, bytes]] = []

        def send(self, topic: str, key: bytes, value: bytes) -> None:
            self.sent.append((topic, key))

    events = ag.generate(sim.FloorParams(seed=4, rate_per_min=10), 0, 1_800_000)
    for agents, expected in (("support.agents", len(events)), (None, len(events)
                                                               - len(agent_events(events)))):
        producer = Producer()
        send = Sender(producer, "t", "c", random.Random(1), 0.0, 0.0, agents=agents)
        for e in events:
            send(e)
        assert len(producer.sent) == send.counts["sent"] == expected
        assert {k for t, k in producer.sent if t == agents} == {
            str(e["agent_id"]).encode() for e in agent_events(events) if agents}
