"""The agents of the simulated floor (schema v1.3, docs/schema.md "v1.3: agents"): a tier1
and a tier2 team per queue on shifts with breaks, staffed by Erlang C for
deploy/staffing.yml's targets, who pick the conversations of :mod:`devtools.simulate` up
and work them; an incident takes most of its queue's agents away until it ends.

Opt-in and alongside: :func:`generate` and :func:`live` are :mod:`devtools.simulate`'s
with the agents' events merged in time order, the conversation events the same as there.
"""

from __future__ import annotations

import functools
import heapq
import math
import random
from collections.abc import Iterator
from typing import Any

from devtools import simulate as sim
from devtools.simulate import (
    HOUR_MS,
    QUEUES,
    TEAMS,
    FloorParams,
    Incident,
    _factor,
    _iso,
    _lognorm,
)

Event = dict[str, object]

# Each queue's Erlang C target, as deploy/staffing.yml sets it (a unit test keeps the two
# equal): service level, answer within (s), concurrency, max occupancy. An agent's capacity
# is its queue's concurrency: it works that many conversations at once (a ticket stays
# with its agent from the first reply to the solve, chats run side by side).
STAFFING_TARGETS: dict[str, tuple[float, float, int, float]] = {
    "billing": (0.8, 60.0, 4, 1.0), "technical": (0.8, 120.0, 3, 0.9),
    "accounts": (0.8, 60.0, 4, 1.0), "sales": (0.8, 30.0, 4, 1.0)}
# The default floor's mean handle time, as measured: a ticket's contact ~1,500 s (from
# its first reply to its solve or escalation, at most CONTACT_MAX_MS), a chat's ~180 s,
# each with ~60 s of wrap-up. And how far the worker's traffic (arrivals × mean handle
# time) of a 15-minute window with μ expected arrivals strays above its mean: measured
# over 2-4 simulated days at 3-40 conversations a minute, at most 5.5·√μ arrivals' worth.
HANDLE_PLAN_S = 1350.0
NEED_SPREAD = 6.0
SHIFT_MS = (7 * HOUR_MS, 9 * HOUR_MS)  # a shift's length (uniform)
SLOT_MS = 1_800_000  # the roster changes on the half hour
# breaks after a shift's start (each moved by up to half an hour, and put off by ten
# minutes while the queue has no agent to spare), and their length
BREAKS = ((2 * HOUR_MS, 900_000), (4 * HOUR_MS, 1_800_000), (6 * HOUR_MS, 900_000))
BREAK_SHARE = 0.125  # of an agent's shift
TIER2_SHARE = 0.12  # of a queue's agents: they take the escalated and transferred contacts
# of its need an incident leaves a queue: the staffing need counts only the conversations
# offered to agents (about 60% here: the bot settles the rest), so this leaves the queue
# about a third of what it really needs
INCIDENT_KEEP = 0.2
WRAPUP_MEDIAN_S = 60.0  # lognormal, sigma 0.2: 45-90 s
CONTACT_MAX_MS = HOUR_MS  # a contact still open then ends (the ticket is left pending)


def generate(p: FloorParams, start_ms: int, end_ms: int, horizon_ms: int | None = None,
             chunk: str = "") -> list[Event]:
    """:func:`devtools.simulate.generate`'s floor with its agents from ``start_ms`` on (their
    events before the horizon too), in time order."""
    horizon = end_ms if horizon_ms is None else horizon_ms
    floor = AgentFloor(p, start_ms, end_ms)
    out: list[Event] = []
    for e in sim.generate(p, start_ms, end_ms, horizon_ms, chunk):
        out += floor.feed(e)
        out.append(e)
    out += floor.finish(horizon)
    return sorted((e for e in out if _ms(e) < horizon), key=lambda e: (_ms(e), str(e["event_id"])))


def live(p: FloorParams, start_ms: int, end_ms: int | None,
         chunk_ms: int = 300_000) -> Iterator[Event]:
    """:func:`devtools.simulate.live`'s events, the agents' among them in time order."""
    floor = AgentFloor(p, start_ms, end_ms)
    for e in sim.live(p, start_ms, end_ms, chunk_ms):
        yield from floor.feed(e)
        yield e
    yield from floor.finish(2**62)


def _ms(e: Event) -> int:
    return round(float(e["occurred_at"]) * 1000)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=8192)
def staffing_plan(rate_per_min: float, profile: tuple[tuple[int, int, float], ...],
                  queue: str, t_ms: int) -> tuple[int, int, int]:
    """(the queue's Erlang C need at ``t_ms`` on average, the agents it staffs, and the
    agents on duty for that, some being on a break).

    Staffed: enough for a 15-minute window ``NEED_SPREAD`` square roots of its arrivals
    busier than the busiest rate from 75 minutes before to 45 minutes after (the worker's
    window lags the arrivals, up to an hour; a shift starts before its rush), and one more."""
    from kpi.staffing import Target, agents_needed

    sl, within_s, conc, occ = STAFFING_TARGETS[queue]
    target = Target(sl, int(within_s * 1000), conc, occ)
    per_window = rate_per_min * dict(QUEUES)[queue] * 15
    need = agents_needed(per_window * _factor(profile, t_ms), 900.0, HANDLE_PLAN_S, target)[0]
    busy = per_window * max(_factor(profile, t) for t in range(t_ms - 4_500_000,
                                                                   t_ms + 2_700_001, 300_000))
    high = busy + NEED_SPREAD * math.sqrt(busy)
    staffed = agents_needed(high, 900.0, HANDLE_PLAN_S, target)[0] + 1
    return need, staffed, max(3, math.ceil(staffed / (1 - BREAK_SHARE)))


def _teams(agents: int) -> tuple[tuple[str, int], ...]:
    """A queue's agents per team: tier2 a share of them, at least one."""
    tier2 = max(1, round(agents * TIER2_SHARE))
    return (TEAMS[0], agents - tier2), (TEAMS[1], tier2)


class _Agent:
    __slots__ = ("capacity", "contacts", "duty", "id", "last", "leaving", "out", "presence",
                 "queue", "shift", "shift_end", "team")

    def __init__(self, agent_id: str, queue: str, team: str) -> None:
        self.id, self.queue, self.team = agent_id, queue, team
        self.capacity = STAFFING_TARGETS[queue][2]
        self.presence = "offline"
        self.contacts: set[str] = set()  # active or in wrap-up
        self.duty = self.leaving = self.out = False  # on shift; going; out for an incident
        self.shift = 0
        self.shift_end = self.last = 0

    def free(self, cid: str) -> bool:
        return (self.duty and not self.out and self.presence == "available"
                and len(self.contacts) < self.capacity and cid not in self.contacts)


class AgentFloor:
    """The agents of a simulated floor, played alongside its conversations: fed their
    events in time order, it returns the agent events (schema v1.3) up to each.

    Per queue, a tier1 and a tier2 team (``TIER2_SHARE``) on 7-9 hour shifts, as many on
    duty each half hour as :func:`staffing_plan` asks for: a shift starts ``available``
    with the agent's queue, team and capacity, and ends, once its open contacts are wrapped
    up (``away`` until then), ``offline``. Three breaks a shift (``away``, then
    ``available``), put off while the queue has nobody to spare. An agent picks a
    conversation up at its first human reply (an escalated or transferred one at tier2's
    reply, by a tier2 agent) while available with a free slot, the one with the most free
    slots first; the contact ends at the escalation or transfer, the solve or the chat's
    end (or after ``CONTACT_MAX_MS``: the ticket is left pending), and its wrap-up about a
    minute later. From ``close_ms`` on, no shift or break starts or ends."""

    def __init__(self, p: FloorParams, start_ms: int, close_ms: int | None) -> None:
        self.p, self.close_ms = p, close_ms
        self.rng = random.Random(f"{p.seed}:agents:{start_ms}")
        self.pools: dict[str, list[_Agent]] = {f"{q}/{t}": [] for q, _ in QUEUES for t in TEAMS}
        # cid → [queue, channel, team, its agent now, when that contact started]
        self.convs: dict[str, list[Any]] = {}
        self.agenda: list[tuple[int, int, str, Any]] = []
        self.kept: dict[str, int] = {}  # queue → agents its incident leaves it
        self.out: list[Event] = []
        self.n = 0
        self.unrouted = 0  # contacts no agent had a free slot for
        for q, _ in QUEUES:
            self._roster(q, start_ms, first=True)
        self._push(start_ms - start_ms % SLOT_MS + SLOT_MS, "roster", None)
        for inc in p.incidents:
            if inc.end_ms > start_ms and (close_ms is None or inc.start_ms < close_ms):
                self._push(max(inc.start_ms, start_ms), "incident", inc)
                self._push(inc.end_ms, "recovered", inc)

    def feed(self, e: Event) -> list[Event]:
        """The agent events up to conversation event ``e``, and those ``e`` brings."""
        t = _ms(e)
        self._advance(t)
        self._conversation(e, t)
        out, self.out = self.out, []
        return out

    def finish(self, until_ms: int) -> list[Event]:
        """The agent events still due before ``until_ms`` (the wrap-ups, mostly)."""
        self._advance(until_ms - 1)
        out, self.out = self.out, []
        return out

    def _push(self, t: float, kind: str, what: Any) -> None:
        self.n += 1
        heapq.heappush(self.agenda, (int(t), self.n, kind, what))

    def _emit(self, typ: str, t: int, a: _Agent, **extra: object) -> None:
        self.n += 1
        self.out.append({"event_id": f"{a.id}-{t}-{self.n}", "type": typ,
                         "occurred_at": _iso(t), "agent_id": a.id, **extra})

    def _status(self, a: _Agent, t: int, status: str, shift_start: bool = False) -> None:
        a.presence = status
        extra = ({"queues": [a.queue], "team": a.team, "capacity": a.capacity}
                 if shift_start else {})
        self._emit("agent.status_changed", t, a, status=status, **extra)

    def _advance(self, t: int) -> None:
        while self.agenda and self.agenda[0][0] <= t:
            when, _, kind, what = heapq.heappop(self.agenda)
            open_ = self.close_ms is None or when < self.close_ms
            if kind == "wrapup":
                self._wrapped(what[0], what[1], when)
            elif kind == "roster" and open_:
                for q, _ in QUEUES:
                    self._roster(q, when)
                self._push(when + SLOT_MS, "roster", None)
            elif kind == "break" and open_:
                self._break(when, *what)
            elif kind == "back":
                a, shift = what
                if a.shift == shift and a.duty and not a.out and a.presence == "away":
                    self._status(a, when, "available")
            elif kind == "pending":  # still open: the ticket waits, the agent moves on
                conv = self.convs.get(what[0])
                if conv is not None and conv[3] is what[1] and conv[4] == what[2]:
                    self._end(what[0], conv, when)
            elif kind == "incident":
                self._incident(what, when)
            elif kind == "recovered":
                self._recovered(what, when)

    def _conversation(self, e: Event, t: int) -> None:
        typ, cid = str(e["type"]), str(e.get("conversation_id", ""))
        if typ in ("ticket.created", "chat.started"):
            if f"{e.get('queue')}/tier1" in self.pools:
                self.convs[cid] = [e["queue"], e.get("channel"), "tier1", None, 0]
            return
        conv = self.convs.get(cid)
        if conv is None:
            return
        if typ.endswith(".message") and e.get("actor") == "agent" and conv[3] is None:
            self._pick_up(cid, conv, t)
        elif typ in ("ticket.escalated", "chat.transferred", "ticket.solved", "chat.ended"):
            self._end(cid, conv, t)
            conv[2] = "tier2" if typ in ("ticket.escalated", "chat.transferred") else conv[2]
        if typ in ("ticket.closed", "chat.ended"):
            del self.convs[cid]

    def _pick_up(self, cid: str, conv: list[Any], t: int) -> None:
        """The conversation's team's agent with the most free slots (then the one waiting
        longest) takes it; the other team's when none is free."""
        queue, channel, team = conv[0], conv[1], conv[2]
        other = TEAMS[1] if team == TEAMS[0] else TEAMS[0]
        for tm in (team, other):
            free = [a for a in self.pools[f"{queue}/{tm}"] if a.free(cid)]
            if free:
                a = min(free, key=lambda a: (len(a.contacts) - a.capacity, a.last))
                a.contacts.add(cid)
                a.last = t
                conv[3], conv[4] = a, t
                self._push(t + CONTACT_MAX_MS, "pending", (cid, a, t))
                self._emit("agent.contact_started", t, a, conversation_id=cid,
                           channel=channel, queue=queue)
                return
        self.unrouted += 1

    def _end(self, cid: str, conv: list[Any], t: int) -> None:
        a = conv[3]
        if a is None:
            return
        conv[3] = None
        self._emit("agent.contact_ended", t, a, conversation_id=cid)
        self._push(t + _lognorm(self.rng, WRAPUP_MEDIAN_S, 0.2) * 1000, "wrapup", (a, cid))

    def _wrapped(self, a: _Agent, cid: str, t: int) -> None:
        if cid not in a.contacts:  # ended when its agent left (an incident)
            return
        a.contacts.discard(cid)
        self._emit("agent.wrapup_ended", t, a, conversation_id=cid)
        if a.leaving and not a.contacts:
            a.leaving = False
            self._status(a, t, "offline")

    def _roster(self, queue: str, t: int, first: bool = False) -> None:
        """Shifts end (their time is up, or fewer agents are needed: the earliest to end
        go) and start (new shifts, or the first agents of the floor, already some hours
        in); during an incident, an ending shift logs off at once."""
        total = staffing_plan(self.p.rate_per_min, self.p.profile, queue, t)[2]
        for team, want in _teams(min(total, self.kept.get(queue, total))):
            pool = self.pools[f"{queue}/{team}"]
            on = sorted((a for a in pool if a.duty), key=lambda a: a.shift_end)
            for a in on:
                if a.out and t >= a.shift_end:
                    a.duty = False  # its shift ended while it was out
            on = [a for a in on if not a.out and a.duty]
            due = [a for a in on if t >= a.shift_end]
            stay = [a for a in on if a not in due]
            for a in due + stay[:max(0, len(stay) - want)]:
                a.duty = False
                if a.contacts and queue not in self.kept:  # (an incident: at once)
                    a.leaving = True
                    if a.presence != "away":
                        self._status(a, t, "away")
                elif a.presence != "offline":
                    self._log_off(a, t)
            for _ in range(want - len(stay)):
                self._start_shift(pool, queue, team, t, first)

    def _start_shift(self, pool: list[_Agent], queue: str, team: str, t: int,
                     first: bool) -> None:
        idle = [a for a in pool if not (a.duty or a.leaving or a.out)]
        a = min(idle, key=lambda a: a.last) if idle else _Agent(
            f"{queue}-{team}-{len(pool) + 1:03d}", queue, team)
        if not idle:
            pool.append(a)
        a.duty, a.shift, a.last = True, a.shift + 1, t
        length = round(self.rng.uniform(*SHIFT_MS))
        begin = t - (round(self.rng.uniform(0, length)) if first else 0)
        a.shift_end = begin + length
        self._status(a, t, "available", shift_start=True)
        for after, pause in BREAKS:
            at = begin + after + self.rng.uniform(-1_800_000, 1_800_000)
            if at > t:
                self._push(at, "break", (a, a.shift, pause))

    def _break(self, t: int, a: _Agent, shift: int, length: int) -> None:
        if a.shift != shift or not a.duty or a.out or a.presence != "available":
            return
        staffed = staffing_plan(self.p.rate_per_min, self.p.profile, a.queue, t)[1]
        present = sum(b.duty and not b.out and b.presence == "available"
                      for tm in TEAMS for b in self.pools[f"{a.queue}/{tm}"])
        if present <= staffed:  # nobody to spare: later
            if t + 600_000 < a.shift_end - length:
                self._push(t + 600_000, "break", (a, shift, length))
            return
        self._status(a, t, "away")
        self._push(t + length, "back", (a, shift))

    def _incident(self, inc: Incident, t: int) -> None:
        """The queue keeps a share of its average need (at least one agent); the others
        (those with the fewest contacts open first), and those whose shift ended, go
        offline until the incident ends, which ends their open contacts (schema v1.3)."""
        need = staffing_plan(self.p.rate_per_min, self.p.profile, inc.queue, t)[0]
        self.kept[inc.queue] = keep = max(1, math.floor(need * INCIDENT_KEEP))
        for team, want in _teams(keep):
            pool = self.pools[f"{inc.queue}/{team}"]
            on = [a for a in pool if a.duty and not a.out]
            self.rng.shuffle(on)
            for a in sorted(on, key=lambda a: len(a.contacts))[:max(0, len(on) - want)]:
                a.out = True
                self._log_off(a, t)
            for a in pool:
                if a.leaving:
                    self._log_off(a, t)

    def _log_off(self, a: _Agent, t: int) -> None:
        for cid in sorted(a.contacts):
            conv = self.convs.get(cid)
            if conv is not None and conv[3] is a:
                conv[3] = None
                self._emit("agent.contact_ended", t, a, conversation_id=cid)
            self._emit("agent.wrapup_ended", t, a, conversation_id=cid)
        a.contacts.clear()
        a.leaving = False
        self._status(a, t, "offline")

    def _recovered(self, inc: Incident, t: int) -> None:
        self.kept.pop(inc.queue, None)
        for tm in TEAMS:
            for a in self.pools[f"{inc.queue}/{tm}"]:
                if a.out:  # offline, no contacts
                    a.out = False
                    a.duty = a.duty and t < a.shift_end
                    if a.duty:
                        self._status(a, t, "available")
        if self.close_ms is None or t < self.close_ms:
            self._roster(inc.queue, t)
