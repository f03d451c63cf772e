"""The batch oracle's agent KPIs and staffing need (docs/kpis.md, "Agents and staffing";
docs/schema.md, "v1.3: agents"), from plain event dicts and nothing of the product's.

The product keeps each agent's events and sweeps them once, adding up as it goes. Here
every question is answered by replaying the agent's sorted history from scratch up to the
instant asked about (quadratic, plainly): a gauge is the replay at that instant, and window
time is integrated piece by piece between consecutive event times, each piece in the state
replayed at its start. Erlang C is computed by the Erlang B recursion (no factorials, no
library) and the tests check it against published tables, so when the product and this
module agree, they agree for independent reasons.

Admission is kept to what decides what counts: an event the schema would dead-letter
(missing ``agent_id``, ``status`` or ``conversation_id``, another status, a bad capacity,
``queues`` that is not a list of strings) is skipped before the duplicate check, the first
copy of an ``event_id`` wins, and an unknown type is ignored. The stream's forgetting of an
agent silent for ``SUPPORT_CONVERSATION_TTL`` is not modelled.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

# ties in occurred_at: status changes first, then starts, ends, wrap-up ends (then event_id)
RANK = {"agent.status_changed": 0, "agent.contact_started": 1, "agent.contact_ended": 2,
        "agent.wrapup_ended": 3}
STATUSES = frozenset({"available", "busy", "after_contact_work", "away", "offline"})
GAUGE_DIMS = frozenset({"queue", "team"})
HANDLE_DIMS = frozenset({"queue", "channel", "team"})
GAUGE_KEYS = ("agents_online", "agents_available", "agents_on_contact",
              "agents_after_contact_work", "agents_away", "agents_staffed", "agent_open_slots")
HANDLING = frozenset({"on_contact", "after_contact_work"})
# docs/kpis.md: "default 80% answered within 20 s", concurrency and max occupancy 1
BUILTIN_TARGET = {"service_level": 0.8, "answer_within_s": 20.0, "concurrency": 1.0,
                  "max_occupancy": 1.0}

Row = dict[str, float | int | list[float] | None]

# ------------------------------------------------------------------ time

_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?"
                      r"(?:([Zz])|([+-])(\d\d):(\d\d))")
_EPOCH_DAY = date(1970, 1, 1).toordinal()


def parse_time_ms(v: Any) -> int:
    """An RFC 3339 string with an offset, or epoch seconds, as epoch milliseconds (a part
    of a millisecond rounded half to even). The string is taken apart by hand, in integer
    arithmetic, rather than through ``datetime.fromisoformat`` as the schema does."""
    if isinstance(v, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(v, int):
        return v * 1000
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"epoch seconds out of range: {v!r}")
        ms = (Decimal(repr(v)) * 1000).to_integral_value(rounding=ROUND_HALF_EVEN)
        return int(ms)
    if not isinstance(v, str):
        raise ValueError(f"not a time: {v!r}")
    m = _RFC3339.fullmatch(v.strip())
    if m is None:
        raise ValueError(f"not an RFC 3339 time with an offset: {v!r}")
    y, mo, d, hh, mi, ss = (int(g) for g in m.groups()[:6])
    if hh > 23 or mi > 59 or ss > 59:
        raise ValueError(f"time of day out of range: {v!r}")
    days = date(y, mo, d).toordinal() - _EPOCH_DAY  # raises on a day that does not exist
    offset_min = 0
    if m.group(9):
        oh, om = int(m.group(10)), int(m.group(11))
        offset_min = (oh * 60 + om) * (1 if m.group(9) == "+" else -1)
    seconds = ((days * 24 + hh) * 60 + mi) * 60 + ss - offset_min * 60
    frac = m.group(7) or ""
    sub_ms = round(Fraction(int(frac), 10 ** len(frac)) * 1000) if frac else 0
    return seconds * 1000 + sub_ms


# ------------------------------------------------------------------ events


@dataclass(frozen=True)
class _Ev:
    t: int
    rank: int
    eid: str
    raw: Mapping[str, Any]

    @property
    def type(self) -> str:
        return str(self.raw["type"])


def _valid(e: Mapping[str, Any]) -> bool:
    """What the schema would accept of an agent event (the rest is dead-lettered)."""
    if e.get("type") not in RANK or not e.get("event_id") or not e.get("agent_id"):
        return False
    if e["type"] != "agent.status_changed":
        return bool(e.get("conversation_id"))
    if e.get("status") not in STATUSES:
        return False
    cap = e.get("capacity")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int)
                            or not 1 <= cap <= 100):
        return False
    qs = e.get("queues")
    return qs is None or (isinstance(qs, list) and all(isinstance(q, str) for q in qs))


def _by_agent(events: Iterable[Mapping[str, Any]]) -> dict[str, list[_Ev]]:
    """Each agent's accepted events, first copy of an event_id only, in the spec's order."""
    seen: set[str] = set()
    out: dict[str, list[_Ev]] = defaultdict(list)
    for e in events:
        if not _valid(e) or str(e["event_id"]) in seen:
            continue
        seen.add(str(e["event_id"]))
        out[str(e["agent_id"])].append(
            _Ev(parse_time_ms(e["occurred_at"]), RANK[e["type"]], str(e["event_id"]), e))
    for evs in out.values():
        evs.sort(key=lambda x: (x.t, x.rank, x.eid))
    return dict(out)


# ------------------------------------------------------------------ one agent, replayed


@dataclass
class _Contact:
    start: int
    channel: str
    queue: str
    team: str | None  # the agent's team when the contact started
    in_wrapup: bool = False


@dataclass
class _Agent:
    """An agent after its events up to some instant."""

    seen: bool = False
    presence: str = "offline"
    queues: tuple[str, ...] = ()
    team: str | None = None
    capacity: int = 1
    open: dict[str, _Contact] = field(default_factory=dict)
    done: list[tuple[int, int, _Contact]] = field(default_factory=list)  # (end, ms, contact)

    @property
    def state(self) -> str:
        if any(not c.in_wrapup for c in self.open.values()):
            return "on_contact"
        if self.open:
            return "after_contact_work"
        return "on_contact" if self.presence == "busy" else self.presence


def _finish(a: _Agent, cid: str, t: int) -> None:
    c = a.open.pop(cid)
    a.done.append((t, t - c.start, c))


def _apply(a: _Agent, e: _Ev) -> None:
    r = e.raw
    a.seen = True
    if e.type == "agent.status_changed":
        a.presence = str(r["status"])
        if r.get("queues") is not None:
            a.queues = tuple(dict.fromkeys(r["queues"]))  # a queue listed twice counts once
        if r.get("team") is not None:
            a.team = str(r["team"])
        if r.get("capacity") is not None:
            a.capacity = int(r["capacity"])
        if a.presence == "offline":  # going offline ends every contact then
            for cid in sorted(a.open):
                _finish(a, cid, e.t)
        return
    cid = str(r["conversation_id"])
    c = a.open.get(cid)
    if e.type == "agent.contact_started":
        if c is None:  # a start of a contact already active or in wrap-up changes nothing
            queue = r.get("queue") or (a.queues[0] if a.queues else "unknown")
            a.open[cid] = _Contact(e.t, str(r.get("channel") or "unknown"), str(queue), a.team)
    elif c is None:
        return  # an end or wrap-up end without a start
    elif e.type == "agent.contact_ended":
        c.in_wrapup = True
    else:  # wrap-up end: of a contact in wrap-up, or of an active one at once
        _finish(a, cid, e.t)


def _replay(evs: Sequence[_Ev], upto_ms: int) -> _Agent:
    """The agent after all its events at or before ``upto_ms``, from scratch."""
    a = _Agent()
    for e in evs:
        if e.t > upto_ms:
            break
        _apply(a, e)
    return a


def _pieces(evs: Sequence[_Ev], lo: int, end: int) -> Iterator[tuple[int, _Agent]]:
    """``[lo, end)`` cut at the agent's event times: each piece's length and the agent
    replayed at its start (constant until the next cut)."""
    if end <= lo:
        return
    cuts = sorted({lo, end} | {e.t for e in evs if lo < e.t < end})
    for a, b in itertools.pairwise(cuts):
        yield b - a, _replay(evs, a)


def _rows(dims: Sequence[str], values: Mapping[str, Sequence[str]]) -> list[str]:
    """The rows of one dimension set an item counts in: every combination of its values,
    named in the set's order; none when it lacks a value of some dimension."""
    keys = [""]
    for d in dims:
        keys = [f"{k},{d}={v}" if k else f"{d}={v}" for k in keys for v in values.get(d, ())]
    return [k or "*" for k in keys]


def _team(team: str | None) -> tuple[str, ...]:
    """An agent no event gave a team to is in the team ``unknown`` (as a conversation
    without one is)."""
    return ("unknown",) if team is None else (team,)


# ------------------------------------------------------------------ gauges


def agent_gauges(events: Iterable[Mapping[str, Any]], at_ms: int,
                 sets: Sequence[Sequence[str]] = ((), ("queue",), ("team",)),
                 ) -> dict[str, dict[str, int]]:
    """The agent gauges at ``at_ms`` (events at that instant included), one row per row of
    each set made of ``queue`` and ``team``: an agent that had an event by then counts in
    the floor row, the row of each queue it serves and of its team (its latest ``queues``
    and ``team``), offline or not; a row exists when some agent counts in it."""
    wanted = [tuple(d) for d in sets if set(d) <= GAUGE_DIMS]
    rows: dict[str, dict[str, int]] = {}
    for evs in _by_agent(events).values():
        a = _replay(evs, at_ms)
        if not a.seen:
            continue
        st = a.state
        n = {"agents_online": int(st != "offline"), "agents_available": int(st == "available"),
             "agents_on_contact": int(st == "on_contact"),
             "agents_after_contact_work": int(st == "after_contact_work"),
             "agents_away": int(st == "away"),
             "agents_staffed": int(st in HANDLING or st == "available"),
             # by presence: an available agent on two chats of three still has a slot
             "agent_open_slots": max(0, a.capacity - len(a.open))
             if a.presence == "available" else 0}
        for dims in wanted:
            for key in _rows(dims, {"queue": a.queues, "team": _team(a.team)}):
                row = rows.setdefault(key, dict.fromkeys(GAUGE_KEYS, 0))
                for k, v in n.items():
                    row[k] += v
    return rows


# ------------------------------------------------------------------ windows


def agent_windows(events: Iterable[Mapping[str, Any]], lo_ms: int, hi_ms: int, now_ms: int,
                  sets: Sequence[Sequence[str]] = ((), ("queue",), ("channel",),
                                                   ("queue", "channel")),
                  ) -> dict[str, Row]:
    """Occupancy and handle time of the window ``[lo_ms, hi_ms)`` seen at ``now_ms``
    (events after ``now_ms`` have not happened yet and are left out).

    Occupancy (sets within ``queue``, ``team``): the agents' time in ``[lo_ms,
    min(hi_ms, now_ms))``, an open state running until then, each piece counted for the
    queues and team the agent had during it; a row exists when some agent in it was online
    there for a while. Handle time (sets within ``queue``, ``channel``, ``team``): every
    contact that ended in ``[lo_ms, hi_ms)``, under its own queue and channel and the
    agent's team at its start (none: ``unknown``)."""
    end = min(hi_ms, now_ms)
    wanted = [tuple(d) for d in sets]
    occ: dict[str, list[int]] = {}  # row → [handling ms, available ms]
    took: dict[str, list[int]] = {}  # row → handle times, ms
    kind: dict[str, tuple[bool, bool]] = {}  # row → (occupancy row, handle-time row)
    for evs in _by_agent(events).values():
        evs = [e for e in evs if e.t <= now_ms]
        for ms, a in _pieces(evs, lo_ms, end):
            st = a.state
            if st == "offline":
                continue
            for dims in (d for d in wanted if set(d) <= GAUGE_DIMS):
                for key in _rows(dims, {"queue": a.queues, "team": _team(a.team)}):
                    kind[key] = (True, set(dims) <= HANDLE_DIMS)
                    acc = occ.setdefault(key, [0, 0])
                    if st in HANDLING:
                        acc[0] += ms
                    elif st == "available":
                        acc[1] += ms
        for t_end, ms, c in _replay(evs, now_ms).done:
            if not lo_ms <= t_end < hi_ms:
                continue
            labels = {"queue": (c.queue,), "channel": (c.channel,), "team": _team(c.team)}
            for dims in (d for d in wanted if set(d) <= HANDLE_DIMS):
                for key in _rows(dims, labels):
                    kind[key] = (set(dims) <= GAUGE_DIMS, True)
                    took.setdefault(key, []).append(ms)
    return {key: _window_row(occ.get(key), took.get(key, []), *kind[key]) for key in kind}


def _window_row(occ: list[int] | None, took: list[int], has_occ: bool, has_ht: bool) -> Row:
    row: Row = {}
    if has_occ:
        handling, available = occ or (0, 0)
        productive = handling + available
        row["occupancy_ratio"] = handling / productive if productive else None
        row["productive_seconds"] = productive / 1000
    if has_ht:
        total = sum(took)
        row["handle_time_count"] = len(took)
        row["handle_time_sum_seconds"] = total / 1000
        row["handle_time_mean_seconds"] = total / len(took) / 1000 if took else None
        row["handle_time_samples"] = [ms / 1000 for ms in sorted(took)]
    return row


# ------------------------------------------------------------------ Erlang C


def erlang_c_wait_probability(n: int, traffic: float) -> float:
    """C(n, A), the probability an arrival waits, from Erlang B's recursion
    B(k) = A·B(k−1) / (k + A·B(k−1)), B(0) = 1, and C = n·B / (n − A·(1 − B)); no
    factorial, no power, so it holds for hundreds of agents. 1 when n ≤ A (no steady
    state: everyone waits)."""
    if n <= traffic:
        return 1.0
    b = 1.0
    for k in range(1, n + 1):
        b = traffic * b / (k + traffic * b)
    return n * b / (n - traffic * (1 - b))


def erlang_c_service_level(n: int, traffic: float, handle_s: float,
                           answer_within_s: float) -> float:
    """The share answered within ``answer_within_s``: 1 − C(n, A)·e^(−(n − A)·T/h); 0 when
    n ≤ A (the queue grows without end)."""
    if n <= traffic:
        return 0.0
    if handle_s <= 0:  # instantaneous service: nobody waits past any T
        return 1.0
    c = erlang_c_wait_probability(n, traffic)
    return 1.0 - c * math.exp(-(n - traffic) * answer_within_s / handle_s)


def agents_needed(arrivals: int, window_s: float, handle_s: float, service_level: float,
                  answer_within_s: float, concurrency: float = 1.0,
                  max_occupancy: float = 1.0) -> int:
    """The fewest agents N > A reaching the service level with A/N ≤ max occupancy, where
    an agent on ``concurrency`` contacts at once is one server of service time h/c and
    A = λ·h/c; 0 when nothing arrived. Counted up from ⌊A⌋ + 1, one agent at a time."""
    if arrivals == 0:
        return 0
    if max_occupancy <= 0 or service_level > 1 or window_s <= 0 or concurrency <= 0:
        raise ValueError("unreachable target")
    service_s = handle_s / concurrency
    traffic = arrivals / window_s * service_s
    n = math.floor(traffic) + 1
    while (traffic / n > max_occupancy
           or erlang_c_service_level(n, traffic, service_s, answer_within_s) < service_level):
        n += 1
    return n


# ------------------------------------------------------------------ staffing


def staffing(agent_events: Iterable[Mapping[str, Any]], created_per_queue: Mapping[str, int],
             window_lo_ms: int, window_hi_ms: int, now_ms: int,
             targets: Mapping[str, Mapping[str, float]], default_target: Mapping[str, float],
             min_contacts: int = 5, longer_lo_ms: Sequence[int] = ()
             ) -> dict[str, dict[str, float | int | None]]:
    """The live staffing need per queue row and for the floor, from the conversations
    created in each queue in the window, the handle times of the queue's contacts ending
    in it, and the agents staffed at ``now_ms``. A queue's target is its own entry over
    ``default_target`` over 80 % in 20 s, concurrency 1, max occupancy 1.

    A queue has a row when conversations were created in it, contacts of it ended in the
    window, or some agent serves it now (staffed or not). A queue with fewer than
    ``min_contacts`` handle times in the window takes them from the first longer window
    (starting at each of ``longer_lo_ms`` in turn, all ending at ``window_hi_ms``) that has
    enough."""
    events = list(agent_events)
    window_s = (window_hi_ms - window_lo_ms) / 1000
    now = agent_gauges(events, now_ms, sets=((), ("queue",)))
    took = agent_windows(events, window_lo_ms, window_hi_ms, now_ms, sets=(("queue",),))
    samples: dict[str, list[float]] = {}
    for key, row in took.items():
        xs = row.get("handle_time_samples")
        if isinstance(xs, list) and xs:
            samples[key.removeprefix("queue=")] = xs
    queues = ({q for q, n in created_per_queue.items() if n > 0} | set(samples)
              | {k.removeprefix("queue=") for k in now if k != "*"})
    out: dict[str, dict[str, float | int | None]] = {}
    for q in sorted(queues):
        target = {**BUILTIN_TARGET, **default_target, **targets.get(q, {})}
        staffed = now.get(f"queue={q}", {}).get("agents_staffed", 0)
        xs = samples.get(q, [])
        for lo in longer_lo_ms:
            if len(xs) >= min_contacts:
                break
            longer = agent_windows(events, lo, window_hi_ms, now_ms, sets=(("queue",),))
            ys = longer.get(f"queue={q}", {}).get("handle_time_samples")
            xs = list(ys) if isinstance(ys, list) else []
        out[f"queue={q}"] = _queue_need(created_per_queue.get(q, 0), xs, staffed, window_s,
                                        target, min_contacts)
    if out:
        needs = [r["staffing_agents_needed"] for r in out.values()]
        known = [int(n) for n in needs if n is not None]
        floor = now.get("*", {}).get("agents_staffed", 0)
        out["*"] = {"staffing_agents_needed": sum(known) if known else None,
                    "staffing_gap_agents": sum(known) - floor if known else None}
    return out


def _queue_need(created: int, samples: Sequence[float], staffed: int, window_s: float,
                target: Mapping[str, float], min_contacts: int,
                ) -> dict[str, float | int | None]:
    sl, within = target["service_level"], target["answer_within_s"]
    conc, max_occ = target["concurrency"], target["max_occupancy"]
    h = sum(samples) / len(samples) if len(samples) >= min_contacts else None
    needed: int | None
    traffic: float | None
    predicted: float | None
    if created == 0:  # nothing arrived: no agent needed, whatever the handle time
        needed, traffic = 0, 0.0
        predicted = 1.0 if staffed > 0 else 0.0  # C(n, 0) = 0: nobody waits
    elif h is None:  # too few contacts behind h
        needed, traffic, predicted = None, None, None
    else:
        traffic = created / window_s * h / conc
        needed = agents_needed(created, window_s, h, sl, within, conc, max_occ)
        predicted = erlang_c_service_level(staffed, traffic, h / conc, within)
    return {"staffing_agents_needed": needed,
            "staffing_gap_agents": None if needed is None else needed - staffed,
            "staffing_traffic_erlangs": traffic,
            "staffing_service_level_predicted": predicted,
            "staffing_handled_contacts": len(samples)}
