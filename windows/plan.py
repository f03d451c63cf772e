"""What applying one batch means, as pure functions: which records count, and the one
script call (keys and arguments) that turns what Redis held into what it must hold.

:mod:`windows.writer` does the I/O around it (the read, the admission of new label values,
the script call, the retries). This part runs per event and per changed conversation, so
it is compiled with the KPI core (setup.py); its classes are plain classes for the reason
given at :class:`kpi.conversation.ConversationView`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import orjson

from kpi.config import KpiConfig
from kpi.conversation import (
    ConversationView,
    Folded,
    LiveState,
    contributions,
    conversation_dims,
    evaluate,
)
from kpi.customers import changed_contact
from kpi.deltas import Deltas, add_bucket_deltas, storage_key
from kpi.dims import cap_dims, dimension_key
from kpi.events import Event
from kpi.fold import fold
from windows.cache import next_version, trim_oldest
from windows.keys import Keys
from windows.ops import Ops

# Expired conversations whose live-gauge counts one batch undoes at most (the rest wait
# for the next batch).
EXPIRED_PER_BATCH = 200
# Conversations whose computed view this worker remembers (LRU), unless told otherwise
# (the worker sizes it by its memory budget, streams.config.memory_plan)
VIEW_CACHE = 40_000


class Record:
    """One Kafka message of a batch, already validated (``event``) or rejected (``reason``)."""

    __slots__ = ("backfill", "event", "offset", "reason")

    def __init__(self, offset: int, event: Event | None = None, reason: str | None = None,
                 backfill: bool = False) -> None:
        self.offset = offset
        self.event = event
        self.reason = reason
        self.backfill = backfill  # history sent as such: applied however old

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and (self.offset, self.event, self.reason) == (
            other.offset, other.event, other.reason)

    def __repr__(self) -> str:
        return f"Record({self.offset!r}, event={self.event!r}, reason={self.reason!r})"


class ApplyResult:
    """What a batch did: applied, and left out (already applied, duplicate, late, rejected)."""

    __slots__ = ("applied", "duplicates", "late", "rejected", "skipped_offsets")

    def __init__(self, applied: int = 0, skipped_offsets: int = 0, duplicates: int = 0,
                 late: int = 0, rejected: int = 0) -> None:
        self.applied = applied
        self.skipped_offsets = skipped_offsets
        self.duplicates = duplicates
        self.late = late
        self.rejected = rejected

    def _fields(self) -> tuple[int, int, int, int, int]:
        return (self.applied, self.skipped_offsets, self.duplicates, self.late, self.rejected)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApplyResult) and self._fields() == other._fields()

    def __repr__(self) -> str:
        return ("ApplyResult(applied={}, skipped_offsets={}, duplicates={}, late={}, "
                "rejected={})").format(*self._fields())


class ConvState:
    """A conversation as this batch sees it: its events (stored and new) and ids."""

    __slots__ = ("_dims", "changed", "events", "folded", "ids", "new_count", "version")

    def __init__(self, version: str, events: list[Event], ids: set[str],
                 folded: Folded | None = None) -> None:
        self.version = version
        self.events = events
        self.ids = ids
        self.folded = folded  # the summary of a long conversation's older messages
        self.changed = False
        self.new_count = 0
        self._dims: dict[str, str] | None = None

    def dims(self, cfg: KpiConfig) -> dict[str, str]:
        """Its labels after this batch's events (computed once: the cap reads them twice)."""
        if self._dims is None:
            self._dims = conversation_dims(self.events, cfg, self.folded)
        return self._dims


class View:
    """A conversation as this worker last wrote it, valid while Redis holds ``version``."""

    __slots__ = ("events", "folded", "ids", "live", "version", "view", "written_ms")

    def __init__(self, version: str, view: ConversationView, live: LiveState,
                 events: list[Event], ids: set[str], folded: Folded | None,
                 written_ms: int) -> None:
        self.version = version
        self.view = view
        self.live = live
        # the lists of the batch that wrote them (nothing else holds them after it); a batch
        # works on copies (:func:`cached_state`), so a batch that fails leaves them intact
        self.events = events
        self.ids = ids
        self.folded = folded
        self.written_ms = written_ms


Views = OrderedDict[str, View]


class Snapshot:
    """What a batch read from Redis (or from the view cache)."""

    __slots__ = ("admitted", "epoch", "ewm", "last", "now_ms", "stale", "states")

    def __init__(self, epoch: str, last: int | None, ewm: int | None,
                 admitted: dict[str, set[str]], states: dict[str, ConvState],
                 stale: dict[str, str], now_ms: int) -> None:
        self.epoch = epoch  # the store's epoch ("" when it has none)
        self.last = last  # the partition's offset watermark
        self.ewm = ewm  # the partition's event-time watermark
        self.admitted = admitted  # dimension → admitted values (the cap)
        self.states = states
        self.stale = stale  # expired conversation → its live entry, to undo
        self.now_ms = now_ms


class Plan:
    """Which records count, and what they do to the partition's watermarks."""

    __slots__ = ("ewm", "max_t", "new_last", "result", "stats")

    def __init__(self, ewm: int | None) -> None:
        self.result = ApplyResult()
        self.stats: dict[str, int] = {}
        self.ewm = ewm  # the event-time watermark after the batch
        self.max_t: int | None = None  # the newest accepted event time
        self.new_last: int | None = None  # the offset watermark after the batch

    def count(self, stat: str, n: int = 1) -> None:
        self.stats[stat] = self.stats.get(stat, 0) + n


def cached_state(view: View) -> ConvState:
    """The state of a conversation this worker wrote last, from its view (no read)."""
    return ConvState(view.version, list(view.events), set(view.ids), view.folded)


def as_text(x: bytes | str) -> str:
    """A Redis reply as text (clients may be set to decode replies or not)."""
    return x.decode() if isinstance(x, bytes) else x


def read_states(cached: Mapping[str, View], uncached: Sequence[str],
                conv_raw: Sequence[bytes | None], live_raw: Sequence[bytes | None],
                expired_raw: Sequence[bytes | None]
                ) -> tuple[dict[str, ConvState], dict[str, str]]:
    """The batch's conversations (cached ones from their views, the others as read:
    ``conv_raw`` holds each one's stored value, ``<version>|<state>``), and the live-gauge
    entries to undo: of the conversations read whose state expired (``live_raw``, one
    each) and of other expired candidates (``expired_raw``: id and entry in turn;
    read_batch.lua)."""
    states = {cid: cached_state(view) for cid, view in cached.items()}
    stale: dict[str, str] = {}
    for i, cid in enumerate(uncached):
        stored, entry = conv_raw[i], live_raw[i]
        states[cid] = decode_state(cid, stored)
        if not stored and entry:  # its state expired while it still counted in the gauges
            stale[cid] = as_text(entry)
    for i in range(0, len(expired_raw), 2):
        cid_raw, entry = expired_raw[i], expired_raw[i + 1]
        if cid_raw is None:
            continue
        cid = as_text(cid_raw)
        if cid not in states:  # one of the batch's own is handled above
            stale[cid] = as_text(entry) if entry else ""
    return states, stale


def decode_state(cid: str, stored: bytes | str | None) -> ConvState:
    """A conversation's stored value, ``<version>|<state>`` (absent: a new conversation,
    version "")."""
    if not stored:
        return ConvState("", [], set())
    raw = stored if isinstance(stored, bytes) else stored.encode()
    version, _, state = raw.partition(b"|")
    # [first event's time, [events relative to it], folded part or absent]
    doc = orjson.loads(state)
    base = int(doc[0])
    folded = None
    if len(doc) > 2:  # [boundary t, rank, id, pending, [[dimension, value], ...]]
        t, rank, eid, pending, dims = doc[2]
        folded = Folded((t, rank, eid), pending, tuple((d, v) for d, v in dims))
    events = [Event.from_compact(cid, row, base) for row in doc[1]]
    return ConvState(version.decode(), events, {e.event_id for e in events}, folded)


def encode_state(events: Sequence[Event], folded: Folded | None) -> bytes:
    """The state part of a conversation's stored value (the script adds the version)."""
    base = min((e.t_ms for e in events), default=0)
    doc: list[object] = [base, [e.to_compact(base) for e in events]]
    if folded is not None:
        doc.append([*folded.boundary, folded.pending, [list(d) for d in folded.dims]])
    return orjson.dumps(doc)


def plan_records(records: Sequence[Record], states: Mapping[str, ConvState],
                 last: int | None, ewm: int | None, lateness_ms: int, topic: str) -> Plan:
    """Which records count: above the watermark, not a duplicate, not late; accepted events
    join their conversation's state."""
    plan = Plan(ewm)
    result = plan.result
    processed = 0
    for st in states.values():
        st.new_count = 0
    ordered = list(records)
    for i in range(1, len(ordered)):  # they come in offset order; sort only if not
        if ordered[i].offset < ordered[i - 1].offset:
            ordered.sort(key=_offset)
            break
    for r in ordered:
        if last is not None and r.offset <= last:
            result.skipped_offsets += 1
            continue
        plan.new_last = r.offset if plan.new_last is None else max(plan.new_last, r.offset)
        e = r.event
        if e is None:
            result.rejected += 1
            plan.count(f"rejected:{r.reason or 'unknown'}")
            continue
        st = states[e.conversation_id]
        if e.event_id in st.ids:  # a duplicate is not a lost event, even when late
            result.duplicates += 1
            plan.count("duplicate:event_id")
            continue
        if (not r.backfill and plan.ewm is not None and e.t_ms < plan.ewm - lateness_ms) or (
                st.folded is not None and e.sort_key() <= st.folded.boundary):
            # older than the watermark allows (unless it is a backfill), or than a long
            # conversation's folded part (which nothing can be placed in exactly)
            result.late += 1
            plan.count(f"late:{e.type}")
            continue
        plan.ewm = e.t_ms if plan.ewm is None else max(plan.ewm, e.t_ms)
        st.ids.add(e.event_id)
        st.events.append(e)
        st.new_count += 1
        st.changed = True
        processed += 1
        plan.max_t = e.t_ms if plan.max_t is None else max(plan.max_t, e.t_ms)
    result.applied += processed
    if processed:
        plan.count(f"processed:{topic}", processed)
    return plan


def _offset(r: Record) -> int:
    return r.offset


def wanted_values(changed: Sequence[str], states: Mapping[str, ConvState],
                  admitted: Mapping[str, set[str]], cfg: KpiConfig) -> dict[str, list[str]]:
    """Values of capped dimensions the batch brings that are not admitted yet."""
    wanted: dict[str, list[str]] = {}
    for cid in changed:
        dims = states[cid].dims(cfg)
        for d, members in admitted.items():
            v = dims[d]
            if v not in members:
                values = wanted.setdefault(d, [])
                if v not in values:
                    values.append(v)
    return wanted


def first_seen_updates(changed: Sequence[str], states: Mapping[str, ConvState],
                       admitted: Mapping[str, set[str]], first: Mapping[str, Mapping[str, int]],
                       cfg: KpiConfig) -> dict[str, dict[str, int]]:
    """Values of capped dimensions (stored under their own label) the batch's
    conversations carry earlier than the store knows: each value's earliest first event
    time of a conversation carrying it (the read side's admission, :func:`kpi.dims.
    admitted_values`)."""
    out: dict[str, dict[str, int]] = {}
    for cid in changed:
        st = states[cid]
        if not st.events:
            continue
        t0 = min(e.t_ms for e in st.events)
        dims = st.dims(cfg)
        for d, members in admitted.items():
            v = dims[d]
            known = first.get(d, {}).get(v)
            if v in members and (known is None or t0 < known):
                mine = out.setdefault(d, {})
                mine[v] = min(t0, mine.get(v, t0))
    return out


class Batch:
    """One call of the batch script, and what to remember when it succeeds."""

    __slots__ = ("args", "facts", "keys", "new_gauge_dims", "views")

    def __init__(self, keys: list[str], args: list[str | int | bytes],
                 new_gauge_dims: set[tuple[str, str]],
                 views: dict[str, tuple[ConversationView, LiveState]],
                 facts: list[tuple[str, bytes]]) -> None:
        self.keys = keys
        self.args = args
        self.new_gauge_dims = new_gauge_dims
        self.views = views
        # (customer hash, contact) messages for the customer path, which must be on the
        # customers topic before the script runs (kpi.customers, streams.customers)
        self.facts = facts


class BatchContext:
    """What building a batch's script call needs besides the snapshot and the plan."""

    __slots__ = ("cfg", "epoch", "known_gauge_dims", "pfield", "views")

    def __init__(self, cfg: KpiConfig, pfield: str, epoch: str, views: Views,
                 known_gauge_dims: set[tuple[str, str]]) -> None:
        self.cfg = cfg
        self.pfield = pfield
        self.epoch = epoch
        self.views = views  # what this worker last wrote, to skip recomputing "before"
        self.known_gauge_dims = known_gauge_dims  # (partition, dimension key) SADDed already


def build_batch(ctx: BatchContext, k: Keys, snap: Snapshot, plan: Plan) -> Batch:
    """The script call that turns ``snap`` into ``snap`` + ``plan`` (pure)."""
    states = snap.states
    changed = [cid for cid in sorted(states) if states[cid].changed]
    ops = Ops(base=4 + len(changed))
    for cid, entry in sorted(snap.stale.items()):
        undo_live(k, cid, entry, ops)
    _overflow(changed, states, snap.admitted, plan, ctx.cfg)
    clock = plan.ewm if plan.ewm is not None else snap.ewm
    facts: list[tuple[str, bytes]] = []
    deltas, views = conversation_ops(ctx, k, changed, snap, ops, facts)
    bucket_ops(ctx.cfg, k, deltas, clock, ops)
    retire_ops(ctx.cfg, k, snap.ewm, clock, ops)
    _pipeline_ops(k, ops, plan, snap.now_ms)
    ops.hmax(k.applied_at, ctx.pfield, snap.now_ms)
    keys = [k.offsets, k.event_watermarks, k.stats, k.epoch]
    for cid in changed:
        keys.append(k.conversation(cid))
    keys.extend(ops.keys)
    args: list[str | int | bytes] = [
        ctx.pfield,
        "" if snap.last is None else str(snap.last),
        plan.new_last if plan.new_last is not None else "",
        "" if plan.ewm is None or plan.ewm == snap.ewm else plan.ewm,
        ctx.epoch,
        len(changed),
        ctx.cfg.conversation_ttl_ms,
    ]
    for cid in changed:
        st = states[cid]
        args.append(st.version)
        args.append(encode_state(st.events, st.folded))
    args.append(ops.payload())  # a batch's ops: ~1 MB of JSON
    args.append(orjson.dumps(ops.candidates))
    return Batch(keys, args, ops.new_gauge_dims, views, facts)


def conversation_ops(ctx: BatchContext, k: Keys, changed: Sequence[str], snap: Snapshot,
                     ops: Ops, facts: list[tuple[str, bytes]]
                     ) -> tuple[Deltas, dict[str, tuple[ConversationView, LiveState]]]:
    """Bucket increments (returned) and live-gauge moves of every changed conversation:
    the difference between its contribution before and after this batch; with the
    customer KPIs on, the contacts that changed go to ``facts``."""
    cfg = ctx.cfg
    views: dict[str, tuple[ConversationView, LiveState]] = {}
    deltas: Deltas = {}
    for cid in changed:
        st = snap.states[cid]
        view = ctx.views.get(cid)
        before: ConversationView | None = None
        before_live: LiveState | None = None
        if view is not None and view.version == st.version:
            before, before_live = view.view, view.live
        elif len(st.events) > st.new_count:
            before, before_live = evaluate(st.events[: len(st.events) - st.new_count],
                                               cfg, st.folded)
        after, after_live = evaluate(st.events, cfg, st.folded)
        add_bucket_deltas(deltas, before, after, cfg, snap.admitted)
        if cfg.customer_kpis:
            fact = changed_contact(st.events, st.new_count, before, after,
                                   lambda v: storage_key(v.dims, cfg, snap.admitted), cfg)
            if fact is not None:
                facts.append((fact[0], orjson.dumps([fact[0], fact[1].to_row()])))
        gauge_ops(ctx, k, cid, before_live, after_live, snap.admitted, ops, snap.now_ms)
        folded = _fold(st, cfg)
        views[cid] = (folded if folded is not None else after, after_live)
    if ops.touched_live:
        # outlive every member by a TTL: undoing needs the entries; and when all is silent
        # that long, every count in the open hash is stale too
        for key in (k.live, k.live_dims, k.open_counts, k.known_counts):
            ops.expire(key, 2 * cfg.conversation_ttl_ms)
    return deltas, views


# bucket starts per size one batch retires at most: a drain's batch moves its partition's
# clock by up to about an hour (720 five-second starts); past this, older buckets keep the
# TTL of their write
RETIRE_MAX = 2_000


def bucket_ops(cfg: KpiConfig, k: Keys, deltas: Deltas, clock: int | None, ops: Ops) -> None:
    """The bucket increments, each bucket with its TTL from this write; a 5-s or 1-min
    bucket that no window reads at the partition's clock (a backfill's, or a late event's)
    gets only the margin, so a backfill does not hold a day of them."""
    margin = cfg.bucket_ttl_margin_ms
    for res, starts in deltas.items():
        ttl = cfg.bucket_ttl_ms(res)
        after = cfg.retire_after_ms(res)
        for start, fields in starts.items():
            passed = after is not None and clock is not None and start + after <= clock
            ops.bucket(k.bucket(res, start), margin if passed else ttl, fields)


def retire_ops(cfg: KpiConfig, k: Keys, before: int | None, clock: int | None,
               ops: Ops) -> None:
    """Cut to the margin the 5-s and 1-min buckets that no window reads any more since the
    partition's clock moved from ``before`` to ``clock``: a bucket ``[s, s + size)`` leaves
    the longest window of its size (length ``L``) once the clock is past ``s + size + L``.
    The keys are built here, so the script declares them (a PEXPIRE of a bucket never
    written does nothing)."""
    if before is None or clock is None or clock <= before:
        return
    margin = cfg.bucket_ttl_margin_ms
    for res in cfg.resolutions_ms:
        after = cfg.retire_after_ms(res)
        if after is None:
            continue
        hi = clock - after  # starts at or below it are read by no window at ``clock``
        lo = max(before - after, hi - RETIRE_MAX * res)  # retired by earlier batches
        start = hi - hi % res
        while start > lo:
            ops.expire(k.bucket(res, start), margin)
            start -= res


def _fold(st: ConvState, cfg: KpiConfig) -> ConversationView | None:
    """Bound a long conversation's state (:func:`kpi.fold.fold`) once its delta is
    computed; returns its view from now on (what the buckets hold of it apart from the
    folded response times), or None when it was not folded."""
    cap = cfg.max_conversation_events
    if not cap or len(st.events) <= cap:
        return None
    kept, folded = fold(st.events, st.folded, cfg)
    if folded is st.folded:
        return None
    st.events, st.folded, st.ids = kept, folded, {e.event_id for e in kept}
    return contributions(kept, cfg, folded)


def _pipeline_ops(k: Keys, ops: Ops, plan: Plan, now_ms: int) -> None:
    """The pipeline counters and freshness times, in the same script as the windows."""
    for name, v in plan.stats.items():
        if v:
            ops.incr(k.stats, name, v)
    if plan.max_t is not None:
        ops.hmax(k.stats, "last_event_ms", plan.max_t)
    ops.hmax(k.stats, "last_applied_ms", now_ms)


def _overflow(changed: Sequence[str], states: Mapping[str, ConvState],
              admitted: Mapping[str, set[str]], plan: Plan, cfg: KpiConfig) -> None:
    """Count the events of values beyond the cap: they are exported as other."""
    for cid in changed:
        dims = states[cid].dims(cfg)
        for d, members in admitted.items():
            if dims[d] not in members:
                plan.count(f"overflow:{d}", states[cid].new_count)


def live_entry(live: LiveState, dimkeys: Sequence[str]) -> str:
    """What a conversation adds to the live gauges: open count, waiting and due sets per
    key, and the SLA policy targets running (older entries have only the first three)."""
    return orjson.dumps([int(live.open), int(live.waiting_since is not None), list(dimkeys),
                         list(live.running)]).decode()


def undo_live(k: Keys, cid: str, entry: str, ops: Ops) -> None:
    """Queue the undoing of an expired conversation's live-gauge count (``entry`` as read
    from the live-dims hash, "" when it had none)."""
    undo = []
    if entry:
        is_open, waiting, dimkeys, *more = orjson.loads(entry)
        running = more[0] if more else []
        for dk in dimkeys:
            undo.append(ops.op("K", k.known_counts, dk, -1))
            if is_open:
                undo.append(ops.op("H", k.open_counts, dk, -1))
            if waiting:
                undo.append(ops.op("R", k.waiting(dk), cid, ""))
            undo.append(ops.op("R", k.due(dk), cid, ""))
            for target in running:
                undo.append(ops.op("H", k.running(target), dk, -1))
    undo.append(ops.op("R", k.live, cid, ""))
    undo.append(ops.op("D", k.live_dims, cid, ""))
    ops.expired(k.conversation(cid), k.live_dims, cid, entry, undo)


def _gauge_keys(live: LiveState, admitted: Mapping[str, set[str]], cfg: KpiConfig
                ) -> list[str]:
    dims = cap_dims(dict(live.dims), admitted)
    return [dimension_key(dims, ds) for ds in cfg.gauge_dimension_sets]


def gauge_ops(ctx: BatchContext, k: Keys, cid: str, before: LiveState | None,
              after: LiveState, admitted: Mapping[str, set[str]], ops: Ops,
              now_ms: int) -> None:
    """Move the conversation's live-gauge count from ``before`` to ``after``, and keep its
    live entry (activity time and what it counts) so expiry can undo it."""
    dimkeys = _gauge_keys(after, admitted, ctx.cfg)
    # every conversation with state is tracked (the state's TTL restarts with this write;
    # so does its entry), so that expiry can undo what it counts
    ops.zadd(k.live, now_ms, cid)
    ops.hset(k.live_dims, cid, live_entry(after, dimkeys))
    ops.touched_live = True
    if before == after:
        return
    ttl = ctx.cfg.conversation_ttl_ms
    bdimkeys: list[str] = []
    if before is not None:
        bdimkeys = dimkeys if before.dims == after.dims else \
            _gauge_keys(before, admitted, ctx.cfg)
    if bdimkeys != dimkeys:  # the conversations a dimension key holds: its gauges exist
        for dk in bdimkeys:
            ops.floored(k.known_counts, dk, -1)
        for dk in dimkeys:
            ops.floored(k.known_counts, dk, 1)
    if before is not None:
        for dk in bdimkeys:
            if before.open:
                ops.incr(k.open_counts, dk, -1)
            if before.waiting_since is not None:
                ops.zrem(k.waiting(dk), cid)
            if before.deadline is not None:
                ops.zrem(k.due(dk), cid)
            for target in before.running:
                ops.incr(k.running(target), dk, -1)
    for dk in dimkeys:
        known = (k.partition, dk)
        if known not in ctx.known_gauge_dims and known not in ops.new_gauge_dims:
            ops.new_gauge_dims.add(known)  # SADD once per worker, not per event
            ops.sadd(k.gauge_dims, dk)
        if after.open:
            ops.incr(k.open_counts, dk, 1)
        if after.waiting_since is not None:
            ops.zadd(k.waiting(dk), after.waiting_since, cid)
            ops.expire(k.waiting(dk), ttl)
        if after.deadline is not None:
            ops.zadd(k.due(dk), after.deadline, cid)
            ops.expire(k.due(dk), ttl)
        for target in after.running:
            ops.incr(k.running(target), dk, 1)


def remember(views: Views, states: Mapping[str, ConvState],
             written: dict[str, tuple[ConversationView, LiveState]], now_ms: int,
             conversation_ttl_ms: int, cap: int = VIEW_CACHE) -> None:
    """Keep each written conversation's computed view, keyed by the version the script
    just gave it, so the next batch need not recompute its "before". Entries go in write
    order; the oldest leave when the cache is full or when their state has expired in
    Redis (a cached view of it could only cause a conflict)."""
    for cid, (view, live) in written.items():
        st = states[cid]
        views[cid] = View(next_version(st.version), view, live, st.events, st.ids, st.folded,
                          now_ms)
        views.move_to_end(cid)
    trim_oldest(views, cap, now_ms - conversation_ttl_ms)

