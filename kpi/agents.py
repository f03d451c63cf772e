"""The agents' side of the floor (schema v1.3, docs/kpis.md "Agents and staffing"): an
agent's events → its timeline (state, queues, team and open chat slots over time) and its
contacts' handle times; from those, the live gauges at a moment and a window's occupancy
and handle-time fields (bucket-style fields, summarized by the catalog like any other).

An agent's events are few (a handful per contact) and its stored history is short (the
longest window and the allowed lateness, :func:`trim`), so the read side evaluates them
at read time: an out-of-order event or a late status change re-reads right, with no
retraction arithmetic. Pure: no Redis, no Faust.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

from kpi import histogram
from kpi.dims import dimension_key
from kpi.events import OTHER, UNKNOWN

STATUS_CHANGED = "agent.status_changed"
CONTACT_STARTED = "agent.contact_started"
CONTACT_ENDED = "agent.contact_ended"
WRAPUP_ENDED = "agent.wrapup_ended"
# the types in their order among events of the same time: a status change first (a shift
# starting as its first contact is offered), then starts, ends and wrap-up ends
AGENT_TYPES: tuple[str, ...] = (STATUS_CHANGED, CONTACT_STARTED, CONTACT_ENDED, WRAPUP_ENDED)
CONTACT_TYPES = frozenset(AGENT_TYPES[1:])
_RANK = {t: i for i, t in enumerate(AGENT_TYPES)}

# presences an agent.status_changed can set, and the state each reads as when the agent
# has no contact open
PRESENCES = ("available", "busy", "after_contact_work", "away", "offline")
AVAILABLE, ON_CONTACT, WRAP_UP, AWAY, OFFLINE = (
    "available", "on_contact", "after_contact_work", "away", "offline")
_PRESENCE_STATE = {"available": AVAILABLE, "busy": ON_CONTACT,
                   "after_contact_work": WRAP_UP, "away": AWAY, "offline": OFFLINE}
STAFFED = frozenset({AVAILABLE, ON_CONTACT, WRAP_UP})
HANDLING = frozenset({ON_CONTACT, WRAP_UP})
MAX_CAPACITY = 100
MAX_QUEUES = 50

# the gauge row keys, in the order of docs/kpis.md
GAUGE_KEYS = ("agents_online", "agents_available", "agents_on_contact",
              "agents_after_contact_work", "agents_away", "agents_staffed", "agent_open_slots")
_STATE_KEY = {AVAILABLE: "agents_available", ON_CONTACT: "agents_on_contact",
              WRAP_UP: "agents_after_contact_work", AWAY: "agents_away"}
# window fields (docs/kpis.md): handling and productive agent-ms (occupancy), handle time
# as a duration (<field>_s, <field>_h:<bin>, kpi.kinds.Duration)
HANDLING_MS, PRODUCTIVE_MS, HANDLE = "ag_h", "ag_p", "aht"
# the dimensions each kind of agent row can split by
PRESENCE_DIMS = frozenset({"queue", "team", "agent"})
CONTACT_DIMS = frozenset({"queue", "team", "agent", "channel"})


@dataclass(frozen=True)
class AgentEvent:
    """One validated agent event (schema v1.3); ``queues``/``team``/``capacity`` None: keep
    the last known."""

    event_id: str
    type: str
    t_ms: int
    agent_id: str
    status: str | None = None
    queues: tuple[str, ...] | None = None
    team: str | None = None
    capacity: int | None = None
    conversation_id: str | None = None
    channel: str | None = None
    queue: str | None = None

    def to_row(self) -> list[object]:
        return [self.event_id, _RANK[self.type], self.t_ms, self.status,
                None if self.queues is None else list(self.queues), self.team, self.capacity,
                self.conversation_id, self.channel, self.queue]

    @classmethod
    def from_row(cls, agent_id: str, row: Sequence[object]) -> AgentEvent:
        eid, rank, t, status, queues, team, cap, cid, channel, queue = row
        return cls(str(eid), AGENT_TYPES[int(rank)], int(t), agent_id,  # type: ignore[call-overload]
                   status, None if queues is None else tuple(queues),  # type: ignore[arg-type]
                   team, cap, cid, channel, queue)  # type: ignore[arg-type]

    @property
    def order(self) -> tuple[int, int, str]:
        return (self.t_ms, _RANK[self.type], self.event_id)


@dataclass(frozen=True)
class Segment:
    """From ``t_ms`` until the next segment (or now): the agent's state and what it serves."""

    t_ms: int
    state: str
    queues: tuple[str, ...]
    team: str
    open_slots: int


@dataclass(frozen=True)
class HandleSample:
    """One contact's handle time (start to wrap-up end), placed at its end."""

    end_ms: int
    ms: int
    channel: str
    queue: str
    team: str
    bin: str = ""  # its histogram bin (kpi.histogram), computed once



class _Contact:
    __slots__ = ("channel", "queue", "start_ms", "team", "wrapping")

    def __init__(self, start_ms: int, channel: str, queue: str, team: str) -> None:
        self.start_ms, self.channel, self.queue, self.team = start_ms, channel, queue, team
        self.wrapping = False


class _Agent:
    """An agent's state while its events are replayed in order."""

    def __init__(self) -> None:
        self.presence = "offline"
        self.queues: tuple[str, ...] = ()
        self.team = UNKNOWN
        self.capacity = 1
        self.contacts: dict[str, _Contact] = {}
        self.status_event: AgentEvent | None = None

    def state(self) -> str:
        if any(not c.wrapping for c in self.contacts.values()):
            return ON_CONTACT
        if self.contacts:
            return WRAP_UP
        return _PRESENCE_STATE[self.presence]

    def open_slots(self) -> int:
        if self.presence != "available":
            return 0
        return max(0, self.capacity - len(self.contacts))

    def close(self, cid: str, t_ms: int, samples: list[HandleSample]) -> None:
        c = self.contacts.pop(cid)
        ms = max(0, t_ms - c.start_ms)
        samples.append(HandleSample(t_ms, ms, c.channel, c.queue, c.team,
                                    histogram.bin_of_ms(ms)))

    def apply(self, e: AgentEvent, samples: list[HandleSample]) -> None:
        if e.type == STATUS_CHANGED:
            self.presence = e.status or self.presence
            self.queues = self.queues if e.queues is None else e.queues
            self.team = self.team if e.team is None else e.team
            self.capacity = self.capacity if e.capacity is None else e.capacity
            self.status_event = e
            if self.presence == "offline":
                for cid in list(self.contacts):
                    self.close(cid, e.t_ms, samples)
            return
        cid = e.conversation_id or ""
        c = self.contacts.get(cid)
        if e.type == CONTACT_STARTED:
            if c is None:
                queue = e.queue or (self.queues[0] if self.queues else UNKNOWN)
                self.contacts[cid] = _Contact(e.t_ms, e.channel or UNKNOWN, queue, self.team)
        elif c is not None and e.type == CONTACT_ENDED:
            c.wrapping = True
        elif c is not None:  # wrap-up end: of a contact in wrap-up, or of an active one
            self.close(cid, e.t_ms, samples)


def ordered(events: Iterable[AgentEvent]) -> list[AgentEvent]:
    """An agent's events in their order, each event id once (a redelivery is a no-op)."""
    unique = {e.event_id: e for e in events}
    return sorted(unique.values(), key=lambda e: e.order)


def timeline(events: Iterable[AgentEvent]) -> tuple[list[Segment], list[HandleSample]]:
    """An agent's segments (a new one at each event that changes what it reads) and its
    contacts' handle times."""
    agent = _Agent()
    segments: list[Segment] = []
    samples: list[HandleSample] = []
    for e in ordered(events):
        agent.apply(e, samples)
        seg = Segment(e.t_ms, agent.state(), agent.queues, agent.team, agent.open_slots())
        if segments and segments[-1].t_ms == e.t_ms:
            segments[-1] = seg
        elif not segments or (seg.state, seg.queues, seg.team, seg.open_slots) != (
                segments[-1].state, segments[-1].queues, segments[-1].team,
                segments[-1].open_slots):
            segments.append(seg)
    return segments, samples


@dataclass(frozen=True)
class TimeIndex:
    """Running totals of an agent's closed segments, so that a long window sums them by two
    lookups instead of a walk: ``productive[k]``/``handling[k]`` are the ms of segments
    ``0 .. k−1`` (each until the next one starts), and ``runs`` the spans of segments with
    the same queues and team ``(first, end, (queues, team))``."""

    productive: tuple[int, ...]
    handling: tuple[int, ...]
    runs: tuple[tuple[int, int, tuple[tuple[str, ...], str]], ...]


def time_index(segments: Sequence[Segment]) -> TimeIndex:
    productive, handling = [0], [0]
    runs: list[tuple[int, int, tuple[tuple[str, ...], str]]] = []
    for i, seg in enumerate(segments):
        ms = segments[i + 1].t_ms - seg.t_ms if i + 1 < len(segments) else 0
        productive.append(productive[-1] + (ms if seg.state in STAFFED else 0))
        handling.append(handling[-1] + (ms if seg.state in HANDLING else 0))
        key = (seg.queues, seg.team)
        if runs and runs[-1][2] == key:
            runs[-1] = (runs[-1][0], i + 1, key)
        else:
            runs.append((i, i + 1, key))
    return TimeIndex(tuple(productive), tuple(handling), tuple(runs))


def trim(events: Iterable[AgentEvent], cut_ms: int) -> list[AgentEvent]:
    """The events worth keeping when nothing before ``cut_ms`` will be read again: those
    from it on, and what the state at it rests on (the latest status change, carrying the
    queues, team and capacity known then, and the events of contacts still open)."""
    agent = _Agent()
    kept: list[AgentEvent] = []
    open_events: dict[str, list[AgentEvent]] = {}
    for e in ordered(events):
        if e.t_ms >= cut_ms:
            kept.append(e)
            continue
        was_open = e.conversation_id in agent.contacts
        agent.apply(e, [])
        if e.type == STATUS_CHANGED or e.conversation_id not in agent.contacts:
            continue
        if was_open:
            open_events[e.conversation_id or ""].append(e)
        else:  # a new contact of this conversation: its earlier ones are closed
            open_events[e.conversation_id or ""] = [e]
    base: list[AgentEvent] = []
    if agent.status_event is not None:
        s = agent.status_event
        base.append(AgentEvent(s.event_id, STATUS_CHANGED, s.t_ms, s.agent_id,
                               agent.presence, agent.queues, agent.team, agent.capacity))
    for cid in agent.contacts:
        base.extend(open_events.get(cid, ()))
    return ordered(base + kept)


def _segment_at(segments: Sequence[Segment], at_ms: int) -> Segment | None:
    found = None
    for s in segments:
        if s.t_ms > at_ms:
            break
        found = s
    return found


def _values(dims: Sequence[str], agent: str, queues: Sequence[str], team: str,
            allowlist: Set[str], channel: str = "") -> list[dict[str, str]]:
    """The label values of each row one agent (or one contact) counts in, for one set."""
    rows: list[dict[str, str]] = [{}]
    for d in dims:
        if d == "queue":
            options: Sequence[str] = queues
        elif d == "team":
            options = (team,)
        elif d == "channel":
            options = (channel,)
        else:
            options = (agent if agent in allowlist else OTHER,)
        rows = [{**r, d: v} for r in rows for v in dict.fromkeys(options)]
    return rows


def gauge_rows(timelines: Mapping[str, Sequence[Segment]], at_ms: int,
               sets: Sequence[Sequence[str]], allowlist: Set[str] = frozenset()
               ) -> dict[str, dict[str, int]]:
    """The live agent gauges at ``at_ms`` per dimension key of each set made of queue,
    team and agent: an agent counts in a row of each queue it serves, of its team, and
    once in the floor row; offline agents make a row exist (reading 0), not count."""
    out: dict[str, dict[str, int]] = {}
    usable = [tuple(s) for s in sets if set(s) <= PRESENCE_DIMS]
    for agent, segments in timelines.items():
        seg = _segment_at(segments, at_ms)
        if seg is None:
            continue
        for dims in usable:
            for labels in _values(dims, agent, seg.queues, seg.team, allowlist):
                row = out.setdefault(dimension_key(labels, dims),
                                     dict.fromkeys(GAUGE_KEYS, 0))
                if seg.state == OFFLINE:
                    continue
                row["agents_online"] += 1
                row[_STATE_KEY[seg.state]] += 1
                row["agents_staffed"] += seg.state in STAFFED
                row["agent_open_slots"] += seg.open_slots
    return out


def window_fields(timelines: Mapping[str, tuple[Sequence[Segment], Sequence[HandleSample]]],
                  lo_ms: int, hi_ms: int, now_ms: int, sets: Sequence[Sequence[str]],
                  allowlist: Set[str] = frozenset(),
                  indexes: Mapping[str, TimeIndex] | None = None) -> dict[str, dict[str, int]]:
    """The agents' fields of the window ``[lo_ms, hi_ms)`` per dimension key: handling and
    productive agent-milliseconds up to ``now_ms`` (an open state runs until now), and the
    handle times of the contacts ending in it (a log-binned histogram, as every duration).

    Each agent's time and handle times are summed per distinct membership (queues and
    team; queue, channel and team) first, then spread over the rows: an agent's membership
    changes seldom, its segments and contacts are many. ``indexes`` (each agent's
    :func:`time_index`, kept with its timeline) spare the walk over its segments."""
    out: dict[str, dict[str, int]] = {}
    presence_sets = [tuple(s) for s in sets if set(s) <= PRESENCE_DIMS]
    contact_sets = [tuple(s) for s in sets if set(s) <= CONTACT_DIMS]
    for agent, (segments, samples) in timelines.items():
        index = indexes.get(agent) if indexes is not None else None
        time_by = _agent_time(segments, index or time_index(segments), lo_ms,
                              min(hi_ms, now_ms), now_ms)
        for (queues, team), fields in time_by.items():
            for dims in presence_sets:
                for labels in _values(dims, agent, queues, team, allowlist):
                    _add(out, dimension_key(labels, dims), fields)
        handles_by = _agent_handles(samples, lo_ms, min(hi_ms, now_ms + 1))
        for (queue, channel, team), fields in handles_by.items():
            for dims in contact_sets:
                for labels in _values(dims, agent, (queue,), team, allowlist, channel):
                    _add(out, dimension_key(labels, dims), fields)
    return out


def _add(out: dict[str, dict[str, int]], dimkey: str, fields: Mapping[str, int]) -> None:
    row = out.setdefault(dimkey, {})
    for f, n in fields.items():
        row[f] = row.get(f, 0) + n


def _piece(segments: Sequence[Segment], i: int, lo_ms: int, end_ms: int, now_ms: int
           ) -> tuple[int, int]:
    """(productive, handling) ms of segment ``i`` within ``[lo_ms, end_ms)``."""
    seg = segments[i]
    nxt = segments[i + 1].t_ms if i + 1 < len(segments) else now_ms
    ms = min(nxt, end_ms) - max(seg.t_ms, lo_ms)
    if ms <= 0 or seg.state not in STAFFED:
        return 0, 0
    return ms, ms if seg.state in HANDLING else 0


def _agent_time(segments: Sequence[Segment], index: TimeIndex, lo_ms: int, end_ms: int,
                now_ms: int) -> dict[tuple[tuple[str, ...], str], dict[str, int]]:
    """One agent's productive and handling ms in ``[lo_ms, end_ms)`` per (queues, team):
    the segments wholly inside from the running totals, the two at the edges clipped."""
    out: dict[tuple[tuple[str, ...], str], dict[str, int]] = {}
    if not segments or end_ms <= lo_ms:
        return out
    first = max(0, bisect_right(segments, lo_ms, key=_start) - 1)
    last = bisect_left(segments, end_ms, key=_start) - 1  # the last starting before end
    for a, b, key in index.runs:
        x, y = max(a, first), min(b, last + 1)
        if x >= y:
            continue
        p, h = _piece(segments, x, lo_ms, end_ms, now_ms)
        if y - 1 > x:
            p2, h2 = _piece(segments, y - 1, lo_ms, end_ms, now_ms)
            p += p2 + index.productive[y - 1] - index.productive[x + 1]
            h += h2 + index.handling[y - 1] - index.handling[x + 1]
        if p:
            fields = out.setdefault(key, {PRODUCTIVE_MS: 0})
            fields[PRODUCTIVE_MS] += p
            if h:
                fields[HANDLING_MS] = fields.get(HANDLING_MS, 0) + h
    return out


def _agent_handles(samples: Sequence[HandleSample], lo_ms: int, hi_ms: int
                   ) -> dict[tuple[str, str, str], dict[str, int]]:
    """One agent's handle times ending in ``[lo_ms, hi_ms)`` per (queue, channel, team)."""
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for j in range(bisect_left(samples, lo_ms, key=_end), len(samples)):
        s = samples[j]
        if s.end_ms >= hi_ms:
            break
        fields = out.setdefault((s.queue, s.channel, s.team), {f"{HANDLE}_s": 0})
        fields[f"{HANDLE}_s"] += s.ms
        b = f"{HANDLE}_h:{s.bin or histogram.bin_of_ms(s.ms)}"
        fields[b] = fields.get(b, 0) + 1
    return out


def _start(s: Segment) -> int:
    return s.t_ms


def _end(s: HandleSample) -> int:
    return s.end_ms


def handle_samples(samples: Iterable[HandleSample], lo_ms: int, hi_ms: int
                   ) -> dict[str, list[int]]:
    """Handle times (ms) of the contacts ending in ``[lo_ms, hi_ms)`` per queue: the
    staffing need's handle time."""
    out: dict[str, list[int]] = {}
    for s in samples:
        if lo_ms <= s.end_ms < hi_ms:
            out.setdefault(s.queue, []).append(s.ms)
    return out
