"""The agents path's store: an agents-topic partition's batch of agent events merged into
each agent's recent events, exactly once, and read back for the read side.

It is the main path's writer (:class:`windows.writer.WindowWriter`: the same epoch, claim,
rewind checks and offset watermark per ``<topic>:<partition>``, the same
``apply_batch.lua``) with another state: an agent's events (``{pp}:ag:<agent id>``,
``<version>|[rows]``), trimmed to what a window can still read (:func:`kpi.agents.trim`),
and the partition's index of agents (``{pp}:agents``). No bucket is written: the read side
evaluates agents at read time (:mod:`kpi.agents`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import redis

from kpi.agents import (
    AgentEvent,
    HandleSample,
    Segment,
    TimeIndex,
    gauge_rows,
    handle_samples,
    ordered,
    time_index,
    timeline,
    trim,
    window_fields,
)
from kpi.config import KpiConfig
from kpi.dims import parse_dimension_key
from kpi.events import OTHER
from kpi.staffing import floor_staffing, queue_staffing
from windows.errors import StoreConflict
from windows.keys import Keys
from windows.ops import Ops, state_call
from windows.plan import ApplyResult, as_text
from windows.writer import MAX_ATTEMPTS, WindowWriter, _int_or_none, store_call

log = logging.getLogger(__name__)

__all__ = ["AgentRecord", "AgentTimelines", "AgentView", "AgentWriter", "agent_retention_ms"]


class AgentRecord:
    """One message of the agents topic: its event, or why it was refused."""

    __slots__ = ("event", "offset", "reason")

    def __init__(self, offset: int, event: AgentEvent | None = None,
                 reason: str | None = None) -> None:
        self.offset = offset
        self.event = event
        self.reason = reason


def agent_retention_ms(cfg: KpiConfig) -> int:
    """How far before an agent's newest event its events are kept: the longest window and
    the allowed lateness (an older event can no longer be read, nor arrive in time)."""
    return max(w.length_ms for w in cfg.windows) + cfg.allowed_lateness_ms


def decode_agent(agent_id: str, stored: bytes | str | None) -> tuple[str, list[AgentEvent]]:
    """An agent's stored value, ``<version>|[rows]`` (absent: version "")."""
    if not stored:
        return "", []
    raw = stored if isinstance(stored, bytes) else stored.encode()
    version, _, state = raw.partition(b"|")
    return version.decode(), [AgentEvent.from_row(agent_id, r) for r in orjson.loads(state)]


def encode_agent(events: Sequence[AgentEvent]) -> bytes:
    return orjson.dumps([e.to_row() for e in events])


def merge_agent(cfg: KpiConfig, before: Sequence[AgentEvent], fresh: Sequence[AgentEvent]
                ) -> tuple[list[AgentEvent], list[AgentEvent]]:
    """``fresh`` merged into an agent's stored events, trimmed; and those of ``fresh`` that
    came too late to count (older than what is kept: a window can no longer read them)."""
    retention = agent_retention_ms(cfg)
    newest = max((e.t_ms for e in before), default=None)
    cut = None if newest is None else newest - retention
    late = [e for e in fresh if cut is not None and e.t_ms < cut]
    merged = ordered([*before, *(e for e in fresh if e not in late)])
    return trim(merged, merged[-1].t_ms - retention) if merged else [], late


def _new_events(before: Sequence[AgentEvent], fresh: Sequence[AgentEvent]
                ) -> list[AgentEvent]:
    """``fresh`` without the events already stored or already earlier in it (by
    ``event_id``: an upstream redelivery counts once, as a duplicate)."""
    seen = {e.event_id for e in before}
    out = []
    for e in fresh:
        if e.event_id not in seen:
            seen.add(e.event_id)
            out.append(e)
    return out


def plan_agents(cfg: KpiConfig, k: Keys, pfield: str, epoch: str,
                fresh: Sequence[AgentRecord], agents: Sequence[str],
                befores: Sequence[tuple[str, list[AgentEvent]]], ewm: int | None,
                last: int | None, now_ms: int
                ) -> tuple[ApplyResult, list[str], list[str | int | bytes]]:
    """The script call that merges ``fresh`` into the agents as read (``befores``, in
    ``agents`` order)."""
    result = ApplyResult()
    ops = Ops(base=4 + len(agents))
    incoming: dict[str, list[AgentEvent]] = {}
    for r in fresh:
        if r.event is None:
            result.rejected += 1
            ops.incr(k.stats, f"rejected:{r.reason or 'unknown'}", 1)
        else:
            incoming.setdefault(r.event.agent_id, []).append(r.event)
    states: list[tuple[str, bytes]] = []
    clock = ewm
    for agent, (version, before) in zip(agents, befores, strict=True):
        new = _new_events(before, incoming.get(agent, ()))
        result.duplicates += len(incoming.get(agent, ())) - len(new)
        after, late = merge_agent(cfg, before, new)
        result.late += len(late)
        result.applied += len(new) - len(late)
        for e in late:  # support_events_late_dropped_total{type, kpi="agents"}
            ops.incr(k.stats, f"late:{e.type}", 1)
        states.append((version, encode_agent(after)))
        ops.zadd(k.agents, now_ms, agent)
        newest = after[-1].t_ms if after else None
        if newest is not None:
            clock = newest if clock is None else max(clock, newest)
    if result.applied:
        ops.incr(k.stats, f"processed:{pfield.rsplit(':', 1)[0]}", result.applied)
    if result.duplicates:  # support_events_duplicate_total, as the conversations' are
        ops.incr(k.stats, "duplicate:event_id", result.duplicates)
    keys, args = state_call(ops, [k.offsets, k.event_watermarks, k.stats, k.epoch], pfield,
                            last, max(r.offset for r in fresh),
                            None if clock == ewm else clock, epoch,
                            [k.agent(a) for a in agents], cfg.conversation_ttl_ms, states)
    return result, keys, args


# how often a writer drops the agents not written for a key's TTL from its partition's
# index (their keys have expired; the index would otherwise keep every agent ever seen)
FORGET_EVERY_MS = 3_600_000


class AgentWriter(WindowWriter):
    """Applies batches of the agents topic (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._forgot: dict[str, int] = {}  # partition field → when it last forgot (ms)

    async def _forget(self, k: Keys, pfield: str) -> None:
        """Drop the index entries of agents whose key has expired (scored by their last
        write, so an agent written since stays): outside the batch script, as nothing
        depends on them but the read side's list, which skips an absent key anyway."""
        now = int(self._clock() * 1000)
        if now - self._forgot.get(pfield, 0) < FORGET_EVERY_MS:
            return
        self._forgot[pfield] = now
        with store_call():
            await self._redis.zremrangebyscore(k.agents, "-inf",
                                               f"({now - self._cfg.conversation_ttl_ms}")

    async def apply(self, topic: str, partition: int,  # type: ignore[override]
                    records: Sequence[AgentRecord]) -> ApplyResult:
        return await super().apply(topic, partition, records)  # type: ignore[arg-type]

    async def _apply(self, topic: str, partition: int,  # type: ignore[override]
                     records: Sequence[AgentRecord]) -> ApplyResult:
        pfield = Keys.partition_field(topic, partition)
        k = self._keys.of(pfield)
        agents = sorted({r.event.agent_id for r in records if r.event is not None})
        for attempt in range(1, MAX_ATTEMPTS + 1):
            with store_call():
                pipe = self._redis.pipeline(transaction=False)
                pipe.get(k.epoch)
                pipe.hget(k.offsets, pfield)
                pipe.hget(k.event_watermarks, pfield)
                for a in agents:
                    pipe.get(k.agent(a))
                epoch_raw, last_raw, ewm_raw, *stored = await pipe.execute()
            epoch = as_text(epoch_raw) if epoch_raw else ""
            if epoch != self._epoch:
                raise self._reset(epoch, f"partition {pfield}")
            last, ewm = _int_or_none(last_raw), _int_or_none(ewm_raw)
            if self._below_applied(pfield, last):
                await self._confirm_rewound(pfield, last)
                continue
            fresh = [r for r in records if last is None or r.offset > last]
            if not fresh:
                return ApplyResult(skipped_offsets=len(records))
            befores = [decode_agent(a, raw) for a, raw in zip(agents, stored, strict=True)]
            result, keys, args = plan_agents(self._cfg, k, pfield, self._epoch or "", fresh,
                                             agents, befores, ewm, last,
                                             int(self._clock() * 1000))
            result.skipped_offsets = len(records) - len(fresh)
            with store_call():
                outcome = await self._eval(keys, args)
            self.script_calls += 1
            if outcome[0] == "epoch":
                raise self._reset(outcome[1], f"partition {pfield}")
            if outcome[0] == "ok":
                self._applied[pfield] = max(self._applied.get(pfield, -1),
                                            max(r.offset for r in fresh))
                await self._forget(k, pfield)
                return result
            log.info("agent batch for %s conflicted (attempt %d); re-reading", pfield,
                     attempt)
        raise StoreConflict(f"{pfield}: gave up after {MAX_ATTEMPTS} conflicting attempts")


Timeline = tuple[list[Segment], list[HandleSample]]


class AgentTimelines:
    """The agents' timelines as this reader last read them, by the version the store gave
    each: a read fetches (one ``GETRANGE`` of the version per agent) and re-evaluates only
    the agents written since. A floor's agents are few; their events over a day are many."""

    VERSION_BYTES = 24  # "<version>|": the version is a decimal count

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], tuple[str, Timeline, TimeIndex]] = {}
        self._lock = threading.Lock()  # the scrape and the wall's snapshots share a reader

    def read(self, client: redis.Redis | Any, parts: Sequence[Keys], now_ms: int,
             ttl_ms: int) -> dict[str, tuple[Timeline, TimeIndex]]:
        """Every agent written within ``ttl_ms`` of ``now_ms``, over the partitions (one
        agent lives in one: the topic is keyed by agent)."""
        with self._lock:
            return self._read(client, parts, now_ms, ttl_ms)

    def _read(self, client: redis.Redis | Any, parts: Sequence[Keys], now_ms: int,
              ttl_ms: int) -> dict[str, tuple[Timeline, TimeIndex]]:
        pipe = client.pipeline(transaction=False)
        for k in parts:
            pipe.zrangebyscore(k.agents, now_ms - ttl_ms, "+inf")
        wanted = [(k, as_text(name)) for k, names in zip(parts, pipe.execute(), strict=True)
                  for name in names]
        if not wanted:
            self._known.clear()
            return {}
        pipe = client.pipeline(transaction=False)
        for k, agent in wanted:
            pipe.getrange(k.agent(agent), 0, self.VERSION_BYTES)
        heads = pipe.execute()
        stale = [(k, a) for (k, a), head in zip(wanted, heads, strict=True) if head and (
            self._known.get((k.partition, a), ("",))[0] != as_text(head).partition("|")[0])]
        if stale:
            pipe = client.pipeline(transaction=False)
            for k, agent in stale:
                pipe.get(k.agent(agent))
            for (k, agent), raw in zip(stale, pipe.execute(), strict=True):
                if raw:
                    version, events = decode_agent(agent, raw)
                    tl = timeline(events)
                    self._known[(k.partition, agent)] = (version, tl, time_index(tl[0]))
        live = {(k.partition, a) for (k, a), head in zip(wanted, heads, strict=True) if head}
        for gone in set(self._known) - live:
            del self._known[gone]
        return {a: self._known[(p, a)][1:] for p, a in sorted(live) if (p, a) in self._known}


class AgentView:
    """The agents as read at one moment: each one's timeline and handle times, and what
    the read side makes of them (live gauges, window fields, the staffing need)."""

    def __init__(self, cfg: KpiConfig, read: Mapping[str, tuple[Timeline, TimeIndex]]
                 ) -> None:
        self._cfg = cfg
        self._timelines = {a: t for a, (t, _i) in read.items()}
        self._indexes = {a: i for a, (_t, i) in read.items()}

    @classmethod
    def of_events(cls, cfg: KpiConfig, histories: Mapping[str, Sequence[AgentEvent]]
                  ) -> AgentView:
        timelines = {a: timeline(evs) for a, evs in sorted(histories.items())}
        return cls(cfg, {a: (t, time_index(t[0])) for a, t in timelines.items()})

    def __bool__(self) -> bool:
        return bool(self._timelines)

    def gauges(self, at_ms: int) -> dict[str, dict[str, int]]:
        return gauge_rows({a: t[0] for a, t in self._timelines.items()}, at_ms,
                          self._cfg.gauge_dimension_sets, self._cfg.agent_allowlist)

    def fields(self, lo_ms: int, hi_ms: int, now_ms: int) -> dict[str, dict[str, int]]:
        return window_fields(self._timelines, lo_ms, hi_ms, now_ms,
                             self._cfg.dimension_sets, self._cfg.agent_allowlist,
                             self._indexes)

    def _handles(self, lo_ms: int, hi_ms: int) -> dict[str, list[int]]:
        handles: dict[str, list[int]] = {}
        for _segments, samples in self._timelines.values():
            for q, ms in handle_samples(samples, lo_ms, hi_ms).items():
                handles.setdefault(q, []).extend(ms)
        return handles

    def staffing(self, gauges: Mapping[str, Mapping[str, float | None]],
                 arrivals: Mapping[str, int], lo_ms: int, hi_ms: int,
                 longer_lo_ms: Sequence[int] = ()) -> dict[str, dict[str, float | None]]:
        """The staffing gauges per ``queue=<q>`` row and the floor's, from the conversations
        that ``arrivals`` per queue in ``[lo_ms, hi_ms)`` and the handle times ending in
        it; a queue with too few of those takes them from the first longer window (each of
        ``longer_lo_ms`` to ``hi_ms``) that has enough: a queue whose agents all left
        still has a handle time, so its need does not go silent."""
        st = self._cfg.staffing
        handles = self._handles(lo_ms, hi_ms)
        window_s = (hi_ms - lo_ms) / 1000.0
        longer = [self._handles(lo, hi_ms) for lo in longer_lo_ms]
        out: dict[str, dict[str, float | None]] = {}
        queues = {dk.split("=", 1)[1] for dk in gauges if dk.startswith("queue=")
                  and "," not in dk}
        for q in sorted({*(q for q, n in arrivals.items() if n > 0), *handles, *queues}):
            staffed = int((gauges.get(f"queue={q}") or {}).get("agents_staffed") or 0)
            ms = handles.get(q, [])
            for more in longer:
                if len(ms) >= st.min_contacts:
                    break
                ms = more.get(q, [])
            out[f"queue={q}"] = queue_staffing(arrivals.get(q, 0), window_s, ms, staffed,
                                               st.target(q), st.min_contacts)
        floor = floor_staffing(out, int((gauges.get("*") or {}).get("agents_staffed") or 0))
        if floor:
            out["*"] = floor
        return out


def add_rows(into: dict[str, dict[str, Any]], rows: Mapping[str, Mapping[str, int]],
             admitted: Mapping[str, set[str]], cap: int) -> None:
    """Add agent rows to the rows of the conversations (fields summed). A queue or team
    value the conversations have not admitted keeps its own row unless that dimension's
    value cap is reached (then it reads ``other``, as a conversation's would): agents name
    their queues and teams, which conversations may not carry yet."""
    for dk, fields in rows.items():
        if dk != "*":
            labels = parse_dimension_key(dk)
            for d, v in labels.items():
                seen = admitted.get(d)
                if seen is not None and len(seen) >= cap and v not in seen:
                    labels[d] = OTHER
            dk = ",".join(f"{d}={v}" for d, v in labels.items())
        target = into.setdefault(dk, {})
        for f, n in fields.items():
            target[f] = target.get(f, 0) + n
