"""Random support-floor histories with the disorder real streams have.

Used by the property tests (driven by hypothesis' ``randoms()``) and by the Kafka
agreement test (a fixed seed): conversations with random lifecycles, shuffled within
each conversation, upstream duplicates, events held back past the allowed lateness,
and the Kafka partition each message lands on.
"""

from __future__ import annotations

import json
import random

from streams.arrival import partition_of

QUEUES = ("billing", "technical", "sales")
CHANNELS_T = ("email", "web")
CHANNELS_C = ("chat", "social")
PRIORITIES = ("low", "normal", "high", "urgent")
AGENTS = ("a1", "a2", "a3", "a4")


def _conversation(rnd: random.Random, cid: str, t0: int) -> list[dict[str, object]]:
    ticket = rnd.random() < 0.5
    n = 0
    out: list[dict[str, object]] = []

    def ev(typ: str, t: int, **kw: object) -> None:
        nonlocal n
        n += 1
        out.append({"event_id": f"{cid}.{n}", "type": typ, "occurred_at": t / 1000,
                    "conversation_id": cid, **kw})

    labels = {"queue": rnd.choice(QUEUES), "priority": rnd.choice(PRIORITIES),
              "team": rnd.choice(("tier1", "tier2")),
              "channel": rnd.choice(CHANNELS_T if ticket else CHANNELS_C)}
    if rnd.random() > 0.08:  # a few conversations never show their start
        ev("ticket.created" if ticket else "chat.started", t0, **labels)
    t = t0
    for _ in range(rnd.randrange(0, 9)):
        t += rnd.randrange(0, 900_000)
        r = rnd.random()
        if ticket:
            if r < 0.45:
                ev("ticket.message", t, actor=rnd.choice(("agent", "customer", "customer")),
                   agent_id=rnd.choice(AGENTS))
            elif r < 0.55:
                ev("ticket.escalated", t)
            elif r < 0.75:
                ev("ticket.solved", t)
            elif r < 0.85:
                ev("ticket.reopened", t)
            elif r < 0.88:
                ev("ticket.closed", t)
            elif r < 0.94:  # schema v1.1: pending on the customer pauses the SLA clocks
                ev("ticket.status_changed", t,
                   status=rnd.choice(("pending", "pending", "open", "on_hold")))
            else:
                ev("ticket.assigned", t, agent_id=rnd.choice(AGENTS))
        else:
            if r < 0.5:
                ev("chat.message", t, actor=rnd.choice(("agent", "customer", "bot")),
                   agent_id=rnd.choice(AGENTS))
            elif r < 0.65:
                ev("chat.handoff", t)
            elif r < 0.72:
                ev("chat.transferred", t)
            else:
                ev("chat.ended", t)
    for typ, lo, hi in (("survey.csat", 1, 5), ("survey.nps", 0, 10), ("survey.ces", 1, 7)):
        if rnd.random() < 0.3:
            ev(typ, t + rnd.randrange(0, 600_000), score=rnd.randint(lo, hi))
    return out


def history(rnd: random.Random, conversations: int, base_ms: int, span_ms: int,
            lateness_ms: int, partitions: int = 3) -> list[tuple[int, bytes, bytes]]:
    """Messages ``(partition, key, value)`` in arrival order."""
    events: list[dict[str, object]] = []
    for i in range(conversations):
        events += _conversation(rnd, f"c{i}", base_ms + rnd.randrange(span_ms))
    events.sort(key=lambda e: float(e["occurred_at"]))  # type: ignore[arg-type]
    # shuffle within each conversation: its events trade places among its own slots
    slots: dict[str, list[int]] = {}
    for i, e in enumerate(events):
        slots.setdefault(str(e["conversation_id"]), []).append(i)
    arrival: list[dict[str, object] | None] = [None] * len(events)
    for idxs in slots.values():
        mine = [events[i] for i in idxs]
        if rnd.random() < 0.5:
            rnd.shuffle(mine)
        for i, e in zip(idxs, mine, strict=True):
            arrival[i] = e
    seq = [e for e in arrival if e is not None]
    # upstream duplicates: a copy arrives a little later
    for e in list(seq):
        if rnd.random() < 0.05:
            seq.insert(min(len(seq), seq.index(e) + rnd.randrange(1, 20)), dict(e))
    # stragglers: held back to the very end, most of them now past the allowed lateness
    held = [e for e in seq if rnd.random() < 0.03]
    seq = [e for e in seq if all(e is not h for h in held)] + held
    out = []
    for e in seq:
        key = str(e["conversation_id"]).encode()
        out.append((partition_of(key, partitions), key, json.dumps(e).encode()))
    _ = lateness_ms
    return out
