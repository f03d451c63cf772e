"""A seedable simulated support floor: tickets and chats with realistic lifecycles.

Generation is a pure function of (seed, time span, rates): the same seed gives the
same history, which the tests and benchmarks rely on. Sending paces events by their
``occurred_at`` (live) or sends them as fast as possible (backfill).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

QUEUES = (("billing", 0.30), ("technical", 0.35), ("accounts", 0.20), ("sales", 0.15))
TICKET_CHANNELS = (("email", 0.6), ("web", 0.25), ("phone", 0.15))
CHAT_CHANNELS = (("chat", 0.8), ("social", 0.2))
PRIORITIES = (("low", 0.25), ("normal", 0.5), ("high", 0.2), ("urgent", 0.05))
TEAMS = ("tier1", "tier2")
# median first-response seconds per queue (tickets; chats are 20x faster), staffed so that
# the p90 stays under deploy/alerts.yml's 900 s target with a wide margin: a calm floor
# does not page
FRT_MEDIAN_S = {"billing": 240, "technical": 250, "accounts": 240, "sales": 180}
FRT_SIGMA = 0.4
# CSAT means per queue (sd 0.8): nine in ten satisfied, so CsatLow's 0.7 stays out of
# reach of sampling noise even at its minimum of 30 responses
CSAT_MEAN = {"billing": 4.5, "technical": 4.5, "accounts": 4.6, "sales": 4.6}
HOUR_MS = 3_600_000

# arrivals by hour of the (UTC) day on a staffed floor: quiet nights, two busy peaks;
# staffing follows the forecast, so busy hours bring volume, not longer waits
DAY_PROFILE: tuple[tuple[int, int, float], ...] = (
    (0, 7, 0.3), (7, 9, 0.8), (9, 12, 1.6), (12, 14, 1.0), (14, 17, 1.4), (17, 20, 0.8),
    (20, 24, 0.5))


@dataclass(frozen=True)
class Incident:
    """A staffing outage in one queue: every conversation created in it during
    ``[start_ms, end_ms)`` waits ``first_reply_s`` (uniform) for its first human reply, so
    its first-response p90 breaches deploy/alerts.yml's FirstResponseP90High while nobody
    waits past OldestWaitingTooOld's 30 minutes or the 1 h SLA; most chat customers give up
    first (abandoned), but when more than 15 of the queue's chats wait past their 2-minute
    target at once, SlaBreachingNow pages for the queue too (it has no ``for``). With
    agents (:mod:`devtools.simulate_agents`), most of the queue's agents go offline until
    ``end_ms``, so UnderstaffedQueue pages for it too, then resolves once they are back."""

    queue: str
    start_ms: int
    end_ms: int
    first_reply_s: tuple[float, float] = (1200.0, 1700.0)
    expected_alert: str = "FirstResponseP90High"

    def covers(self, queue: str, t_ms: float) -> bool:
        return queue == self.queue and self.start_ms <= t_ms < self.end_ms


@dataclass(frozen=True)
class FloorParams:
    seed: int = 1
    rate_per_min: float = 30.0
    ticket_share: float = 0.5
    escalation_p: float = 0.08
    reopen_p: float = 0.05
    handoff_p: float = 0.25
    patience_s: float = 300.0  # mean wait a chat customer accepts after the handoff
    csat_p: float = 0.4
    nps_p: float = 0.15
    ces_p: float = 0.2
    # (from hour, to hour, arrival multiplier) over the UTC day; () = flat
    profile: tuple[tuple[int, int, float], ...] = ()
    incidents: tuple[Incident, ...] = ()
    # customers: conversations come from a population of this many (0: no customer_id);
    # a share of them carry none (a guest chat, a phone call without caller id)
    customers: int = 0
    identified_p: float = 0.9

    def rate_factor(self, t_ms: float) -> float:
        return _factor(self.profile, t_ms)

    def incident(self, queue: str, t_ms: float) -> Incident | None:
        return next((i for i in self.incidents if i.covers(queue, t_ms)), None)


def _factor(profile: tuple[tuple[int, int, float], ...], t_ms: float) -> float:
    hour = int(t_ms // HOUR_MS) % 24
    return next((m for lo, hi, m in profile if lo <= hour < hi), 1.0)


def profile_from_text(text: str) -> tuple[tuple[int, int, float], ...]:
    """``"0-7:0.3,9-12:1.6"`` (UTC hours, arrival multiplier) → a profile; ``"day"`` is
    :data:`DAY_PROFILE` and ``""`` is flat."""
    if text.strip() == "day":
        return DAY_PROFILE
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            hours, _, mult = part.partition(":")
            lo, _, hi = hours.partition("-")
            entry = (int(lo), int(hi), float(mult))
        except ValueError:
            raise ValueError(f"{part!r}: expected FROM-TO:MULTIPLIER, e.g. 9-12:1.6") from None
        if not (0 <= entry[0] < entry[1] <= 24 and entry[2] >= 0):
            raise ValueError(f"{part!r}: hours run 0-24 and the multiplier is >= 0")
        out.append(entry)
    return tuple(out)


def incident_from_text(text: str, origin_ms: int) -> Incident:
    """``QUEUE@START+LENGTH`` (e.g. ``technical@2h+45m``: START after ``origin_ms``, the
    simulated floor's first moment) → an :class:`Incident`."""
    from kpi.config import parse_duration_ms

    queue, _, span = text.partition("@")
    start, _, length = span.partition("+")
    if queue not in dict(QUEUES) or not start or not length:
        raise ValueError(f"{text!r}: expected QUEUE@START+LENGTH with QUEUE one of "
                         f"{', '.join(q for q, _ in QUEUES)}, e.g. technical@2h+45m")
    begin = origin_ms + parse_duration_ms(start)
    return Incident(queue, begin, begin + parse_duration_ms(length))


def due_s(t_ms: float, start_ms: int, wall0_s: float, speed: float) -> float:
    """When (wall clock, s) the event at simulated time ``t_ms`` is sent: the simulated
    clock starts at ``start_ms`` when the wall clock reads ``wall0_s``, runs ``speed``
    times faster (0: history as fast as possible) until it has caught up with the wall
    clock, then in real time."""
    live_s = t_ms / 1000.0
    if speed <= 0:
        return live_s
    return max(wall0_s + (t_ms - start_ms) / 1000.0 / speed, live_s)


def _pick(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    x = rng.random()
    acc = 0.0
    for name, w in options:
        acc += w
        if x < acc:
            return name
    return options[-1][0]


def _lognorm(rng: random.Random, median_s: float, sigma: float = 0.8) -> float:
    return median_s * math.exp(rng.gauss(0, sigma))


def _iso(t_ms: int) -> float:
    return round(t_ms / 1000.0, 3)


class _Emitter:
    """Collects one conversation's events with ids ``<cid>-1``, ``<cid>-2``, …"""

    def __init__(self, cid: str) -> None:
        self.cid = cid
        self.out: list[dict[str, object]] = []

    def __call__(self, typ: str, t: float, **extra: object) -> None:
        self.out.append({"event_id": f"{self.cid}-{len(self.out) + 1}", "type": typ,
                         "occurred_at": _iso(int(t)), "conversation_id": self.cid, **extra})


def _first_reply_s(rng: random.Random, p: FloorParams, queue: str, t0: float,
                   median_s: float) -> float:
    """Seconds to the first human reply: the queue's staffing, or an incident's backlog."""
    inc = p.incident(queue, t0)
    if inc is not None:
        return rng.uniform(*inc.first_reply_s)
    return _lognorm(rng, median_s, FRT_SIGMA)


def conversation(rng: random.Random, p: FloorParams, cid: str, t0: int) -> list[dict[str, object]]:
    """All events of one conversation starting at ``t0`` (ms)."""
    queue = _pick(rng, QUEUES)
    priority = _pick(rng, PRIORITIES)
    labels = {"queue": queue, "team": TEAMS[0], "priority": priority}
    is_ticket = rng.random() < p.ticket_share
    if p.customers and rng.random() < p.identified_p:
        # on the start event only, as a helpdesk's webhook names the requester: the rest of
        # the conversation takes it from the stored state
        labels = {**labels, "customer_id": f"cust-{rng.randrange(p.customers):06d}"}
    ev = _Emitter(cid)
    agent = f"agent-{rng.randrange(40):02d}"
    survey_t: float | None = (_ticket if is_ticket else _chat)(rng, p, ev, float(t0),
                                                                labels, agent)
    if survey_t is None:  # abandoned: nobody to ask
        return ev.out
    if rng.random() < p.csat_p:
        score = min(5, max(1, round(rng.gauss(CSAT_MEAN[queue], 0.8))))
        ev("survey.csat", survey_t + rng.uniform(30, 600) * 1000, score=score)
    if rng.random() < p.nps_p:
        ev("survey.nps", survey_t + rng.uniform(60, 900) * 1000,
           score=min(10, max(0, round(rng.gauss(7.5, 2.2)))))
    if rng.random() < p.ces_p:
        ev("survey.ces", survey_t + rng.uniform(60, 900) * 1000,
           score=min(7, max(1, round(rng.gauss(2.5, 1.2)))))
    return ev.out


def _ticket(rng: random.Random, p: FloorParams, ev: _Emitter, t: float,
            labels: dict[str, str], agent: str) -> float:
    """A ticket's lifecycle; returns when its survey is sent (the first solve)."""
    queue = labels["queue"]
    ev("ticket.created", t, channel=_pick(rng, TICKET_CHANNELS), **labels)
    created = t
    t += rng.uniform(5, 60) * 1000
    ev("ticket.assigned", t, agent_id=agent)
    t = max(t, created + _first_reply_s(rng, p, queue, created, FRT_MEDIAN_S[queue]) * 1000)
    ev("ticket.message", t, actor="agent", agent_id=agent)
    replies = 1
    while rng.random() < 0.08 and replies < 6:
        t += _lognorm(rng, 900) * 1000
        ev("ticket.message", t, actor="customer")
        t += _lognorm(rng, FRT_MEDIAN_S[queue], FRT_SIGMA) * 1000
        ev("ticket.message", t, actor="agent", agent_id=agent)
        replies += 1
    if rng.random() < p.escalation_p:
        t += _lognorm(rng, 600) * 1000
        ev("ticket.escalated", t, team="tier2")
        t += _lognorm(rng, 1800) * 1000
        ev("ticket.message", t, actor="agent", agent_id=f"agent-{rng.randrange(40, 50)}")
    t += _lognorm(rng, 1200) * 1000
    ev("ticket.solved", t)
    solved_t = t
    if rng.random() < p.reopen_p:
        t += _lognorm(rng, 7200) * 1000
        ev("ticket.reopened", t)
        t += _lognorm(rng, FRT_MEDIAN_S[queue], FRT_SIGMA) * 1000
        ev("ticket.message", t, actor="agent", agent_id=agent)
        t += _lognorm(rng, 1200) * 1000
        ev("ticket.solved", t)
    ev("ticket.closed", t + 86_400_000)
    return solved_t


def _chat(rng: random.Random, p: FloorParams, ev: _Emitter, t: float,
          labels: dict[str, str], agent: str) -> float | None:
    """A chat's lifecycle (bot first, often a handoff); returns when it ended, or None
    when the customer gave up waiting for a human (abandoned)."""
    queue = labels["queue"]
    ev("chat.started", t, channel=_pick(rng, CHAT_CHANNELS), **labels)
    started = t
    t += rng.uniform(1, 5) * 1000
    ev("chat.message", t, actor="bot")
    if rng.random() < p.handoff_p:
        t += rng.uniform(10, 90) * 1000
        ev("chat.handoff", t)
        wait_s = _first_reply_s(rng, p, queue, started, FRT_MEDIAN_S[queue] / 20)
        patience_s = rng.expovariate(1.0 / p.patience_s)
        if patience_s < wait_s:
            ev("chat.ended", t + patience_s * 1000)
            return None
        t += wait_s * 1000
        ev("chat.message", t, actor="agent", agent_id=agent)
        replies = 1
        while rng.random() < 0.15 and replies < 8:
            t += _lognorm(rng, 40) * 1000
            ev("chat.message", t, actor="customer")
            t += _lognorm(rng, 30) * 1000
            ev("chat.message", t, actor="agent", agent_id=agent)
            replies += 1
        if rng.random() < p.escalation_p / 2:
            t += _lognorm(rng, 60) * 1000
            ev("chat.transferred", t, team="tier2")
            t += _lognorm(rng, 60) * 1000
            ev("chat.message", t, actor="agent", agent_id=f"agent-{rng.randrange(40, 50)}")
    t += _lognorm(rng, 120) * 1000
    ev("chat.ended", t)
    return t


def generate(
    p: FloorParams, start_ms: int, end_ms: int, horizon_ms: int | None = None, chunk: str = ""
) -> list[dict[str, object]]:
    """Conversations arriving in ``[start_ms, end_ms)``, with their events before the horizon.

    ``horizon_ms`` defaults to ``end_ms``; ``None``-like large values keep whole lifecycles.
    """
    horizon = end_ms if horizon_ms is None else horizon_ms
    rng = random.Random(f"{p.seed}:{chunk}")
    events: list[dict[str, object]] = []
    t = float(start_ms)
    i = 0
    # a non-homogeneous Poisson process by thinning: candidates at the peak rate, each
    # kept with the hour's share of it
    peak = max([1.0, *(m for _, _, m in p.profile)])
    mean_gap_ms = 60_000.0 / max(p.rate_per_min * peak, 1e-9)
    while True:
        t += rng.expovariate(1.0 / mean_gap_ms)
        if t >= end_ms:
            break
        if p.profile and rng.random() * peak >= p.rate_factor(t):
            continue
        i += 1
        cid = f"c{p.seed}{chunk}-{i:07d}"
        for e in conversation(rng, p, cid, int(t)):
            if float(e["occurred_at"]) * 1000 < horizon:  # type: ignore[arg-type]
                events.append(e)
    events.sort(key=_order)
    return events


def _order(e: dict[str, object]) -> tuple[float, str]:
    return (float(e["occurred_at"]), str(e["event_id"]))  # type: ignore[arg-type]


def live(p: FloorParams, start_ms: int, end_ms: int | None,
         chunk_ms: int = 300_000) -> Iterator[dict[str, object]]:
    """Events in time order for conversations arriving from ``start_ms`` on (unbounded if
    ``end_ms`` is None), generated a chunk at a time so memory stays small."""
    import heapq

    heap: list[tuple[float, str, int, dict[str, object]]] = []
    n = 0
    chunk_start = start_ms
    while end_ms is None or chunk_start < end_ms:
        chunk_end = chunk_start + chunk_ms if end_ms is None else min(chunk_start + chunk_ms,
                                                                        end_ms)
        for e in generate(p, chunk_start, chunk_end, horizon_ms=2**62,
                          chunk=f"x{chunk_start // 1000}"):
            n += 1
            heapq.heappush(heap, (*_order(e), n, e))
        while heap and heap[0][0] * 1000 < chunk_end:
            yield heapq.heappop(heap)[3]
        chunk_start = chunk_end
    while heap:
        yield heapq.heappop(heap)[3]


def route(
    events: list[dict[str, object]], tickets: str, chats: str, agents: str | None = None
) -> Iterator[tuple[str, bytes, bytes]]:
    """(topic, key, value) per event; surveys follow their conversation's topic; agent
    events (:mod:`devtools.simulate_agents`) go to ``agents`` keyed by ``agent_id``, and
    are dropped without an agents topic."""
    kind: dict[str, str] = {}
    for e in events:
        typ = str(e.get("type", ""))
        cid = str(e.get("conversation_id", ""))
        if typ.startswith("ticket."):
            kind.setdefault(cid, tickets)
        elif typ.startswith("chat."):
            kind.setdefault(cid, chats)
    for e in events:
        if str(e.get("type", "")).startswith("agent."):
            if agents:
                yield (agents, str(e.get("agent_id", "")).encode(),
                       json.dumps(e, separators=(",", ":")).encode())
            continue
        cid = str(e.get("conversation_id", ""))
        topic = kind.get(cid, tickets)
        yield topic, cid.encode(), json.dumps(e, separators=(",", ":")).encode()


INVALID_SAMPLES: tuple[bytes, ...] = (
    b"{not json",
    b"[1, 2, 3]",
    b'{"event_id": "x", "type": "ticket.created", "conversation_id": "c"}',
    b'{"event_id": "y", "type": "ticket.teleported", "occurred_at": 1, "conversation_id": "c"}',
    b'{"event_id": "z", "type": "survey.csat", "occurred_at": 1, "conversation_id": "c", '
    b'"score": 11}',
)
