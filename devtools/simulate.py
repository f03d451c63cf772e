"""A seedable simulated support floor: tickets and chats with realistic lifecycles.

Generation is a pure function of (seed, time span, rates): the same seed gives the
same history, which the tests and benchmarks rely on. Sending paces events by their
``occurred_at`` (live) or sends them as fast as possible (backfill).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

QUEUES = (("billing", 0.30), ("technical", 0.35), ("accounts", 0.20), ("sales", 0.15))
TICKET_CHANNELS = (("email", 0.6), ("web", 0.25), ("phone", 0.15))
CHAT_CHANNELS = (("chat", 0.8), ("social", 0.2))
PRIORITIES = (("low", 0.25), ("normal", 0.5), ("high", 0.2), ("urgent", 0.05))
TEAMS = ("tier1", "tier2")
# median first-response seconds per queue (tickets); chats are ~20x faster
FRT_MEDIAN_S = {"billing": 600, "technical": 1500, "accounts": 900, "sales": 300}
CSAT_MEAN = {"billing": 4.1, "technical": 3.6, "accounts": 4.3, "sales": 4.5}


@dataclass(frozen=True)
class FloorParams:
    seed: int = 1
    rate_per_min: float = 30.0
    time_scale: float = 1.0
    ticket_share: float = 0.5
    escalation_p: float = 0.12
    reopen_p: float = 0.08
    csat_p: float = 0.4
    nps_p: float = 0.15
    ces_p: float = 0.2


def _pick(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    x = rng.random()
    acc = 0.0
    for name, w in options:
        acc += w
        if x < acc:
            return name
    return options[-1][0]


def _lognorm(rng: random.Random, median_s: float, sigma: float = 0.8) -> float:
    import math

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


def conversation(rng: random.Random, p: FloorParams, cid: str, t0: int) -> list[dict[str, object]]:
    """All events of one conversation starting at ``t0`` (ms)."""
    queue = _pick(rng, QUEUES)
    priority = _pick(rng, PRIORITIES)
    labels = {"queue": queue, "team": TEAMS[0], "priority": priority}
    is_ticket = rng.random() < p.ticket_share
    ev = _Emitter(cid)
    agent = f"agent-{rng.randrange(40):02d}"
    if is_ticket:
        survey_t = _ticket(rng, p, ev, float(t0), labels, agent)
    else:
        survey_t = _chat(rng, p, ev, float(t0), labels, agent)
    s = p.time_scale
    if rng.random() < p.csat_p:
        score = min(5, max(1, round(rng.gauss(CSAT_MEAN[queue], 1.0))))
        ev("survey.csat", survey_t + rng.uniform(30, 600) * 1000 * s, score=score)
    if rng.random() < p.nps_p:
        ev("survey.nps", survey_t + rng.uniform(60, 900) * 1000 * s,
           score=min(10, max(0, round(rng.gauss(7.5, 2.2)))))
    if rng.random() < p.ces_p:
        ev("survey.ces", survey_t + rng.uniform(60, 900) * 1000 * s,
           score=min(7, max(1, round(rng.gauss(2.5, 1.2)))))
    return ev.out


def _ticket(rng: random.Random, p: FloorParams, ev: _Emitter, t: float,
            labels: dict[str, str], agent: str) -> float:
    """A ticket's lifecycle; returns when its survey is sent (the first solve)."""
    s, queue = p.time_scale, labels["queue"]
    ev("ticket.created", t, channel=_pick(rng, TICKET_CHANNELS), **labels)
    t += rng.uniform(5, 60) * 1000 * s
    ev("ticket.assigned", t, agent_id=agent)
    t += _lognorm(rng, FRT_MEDIAN_S[queue]) * 1000 * s
    ev("ticket.message", t, actor="agent", agent_id=agent)
    replies = 1
    while rng.random() < 0.35 and replies < 6:
        t += _lognorm(rng, 900) * 1000 * s
        ev("ticket.message", t, actor="customer")
        t += _lognorm(rng, FRT_MEDIAN_S[queue]) * 1000 * s
        ev("ticket.message", t, actor="agent", agent_id=agent)
        replies += 1
    if rng.random() < p.escalation_p:
        t += _lognorm(rng, 600) * 1000 * s
        ev("ticket.escalated", t, team="tier2")
        t += _lognorm(rng, 1800) * 1000 * s
        ev("ticket.message", t, actor="agent", agent_id=f"agent-{rng.randrange(40, 50)}")
    t += _lognorm(rng, 1200) * 1000 * s
    ev("ticket.solved", t)
    solved_t = t
    if rng.random() < p.reopen_p:
        t += _lognorm(rng, 7200) * 1000 * s
        ev("ticket.reopened", t)
        t += _lognorm(rng, FRT_MEDIAN_S[queue]) * 1000 * s
        ev("ticket.message", t, actor="agent", agent_id=agent)
        t += _lognorm(rng, 1200) * 1000 * s
        ev("ticket.solved", t)
    ev("ticket.closed", t + 86_400_000 * s)
    return solved_t


def _chat(rng: random.Random, p: FloorParams, ev: _Emitter, t: float,
          labels: dict[str, str], agent: str) -> float:
    """A chat's lifecycle (bot first, often a handoff); returns when it ended."""
    s, queue = p.time_scale, labels["queue"]
    ev("chat.started", t, channel=_pick(rng, CHAT_CHANNELS), **labels)
    t += rng.uniform(1, 5) * 1000 * s
    ev("chat.message", t, actor="bot")
    if rng.random() < 0.65:
        t += rng.uniform(10, 90) * 1000 * s
        ev("chat.handoff", t)
        t += _lognorm(rng, FRT_MEDIAN_S[queue] / 20) * 1000 * s
        ev("chat.message", t, actor="agent", agent_id=agent)
        replies = 1
        while rng.random() < 0.4 and replies < 8:
            t += _lognorm(rng, 40) * 1000 * s
            ev("chat.message", t, actor="customer")
            t += _lognorm(rng, 30) * 1000 * s
            ev("chat.message", t, actor="agent", agent_id=agent)
            replies += 1
        if rng.random() < p.escalation_p / 2:
            t += _lognorm(rng, 60) * 1000 * s
            ev("chat.transferred", t, team="tier2")
            t += _lognorm(rng, 60) * 1000 * s
            ev("chat.message", t, actor="agent", agent_id=f"agent-{rng.randrange(40, 50)}")
    t += _lognorm(rng, 120) * 1000 * s
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
    mean_gap_ms = 60_000.0 / max(p.rate_per_min, 1e-9)
    while True:
        t += rng.expovariate(1.0 / mean_gap_ms)
        if t >= end_ms:
            break
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
    events: list[dict[str, object]], tickets: str, chats: str
) -> Iterator[tuple[str, bytes, bytes]]:
    """(topic, key, value) per event; surveys follow their conversation's topic."""
    kind: dict[str, str] = {}
    for e in events:
        typ = str(e.get("type", ""))
        cid = str(e.get("conversation_id", ""))
        if typ.startswith("ticket."):
            kind.setdefault(cid, tickets)
        elif typ.startswith("chat."):
            kind.setdefault(cid, chats)
    for e in events:
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
