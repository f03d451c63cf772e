"""Thin async I/O layer that applies one partition's batch to Redis.

Read (one pipelined round trip) → compute with the pure functions of
:mod:`windows.kpi` → write with one atomic Lua script (second round trip). If the
script reports that a watermark or conversation moved in between, the whole batch is
recomputed from a fresh read: correctness never depends on there being one writer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources

import redis.asyncio as aioredis
from redis.exceptions import (  # type: ignore[attr-defined]  # the stubs lack OutOfMemoryError
    BusyLoadingError,
    ExecAbortError,
    MasterDownError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from windows import kpi
from windows.config import KpiConfig
from windows.errors import StoreConflict, StoreReset, StoreRewound, StoreUnavailable
from windows.events import Event
from windows.keys import Keys

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
VIEW_CACHE = 100_000
# Expired conversations whose live-gauge counts one batch undoes at most (the rest wait
# for the next batch), and how long after the state's TTL they become candidates (the
# script also checks the state key is really gone, so this only saves re-reads).
EXPIRED_PER_BATCH = 200
EXPIRY_GRACE_MS = 1_000


def load_lua(name: str) -> str:
    return resources.files("windows").joinpath("lua", name).read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka message of a batch, already validated (``event``) or rejected (``reason``)."""

    offset: int
    event: Event | None = None
    reason: str | None = None


@dataclass
class ApplyResult:
    applied: int = 0
    skipped_offsets: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class StoreOpening:
    """What a worker found when it opened the store for its assigned partitions."""

    epoch: str
    created: bool  # no epoch existed: Redis is new, was flushed or lost its data
    last_offsets: list[int | None]


@dataclass
class _ConvState:
    version: str
    events: list[Event]
    ids: set[str]
    changed: bool = False
    new_count: int = 0


@dataclass(frozen=True)
class _Snapshot:
    """What a batch read from Redis (or from the view cache)."""

    epoch: str  # the store's epoch ("" when it has none)
    last: int | None  # the partition's offset watermark
    ewm: int | None  # the partition's event-time watermark
    admitted: dict[str, set[str]]  # dimension → admitted values (the cap)
    states: dict[str, _ConvState]
    stale: dict[str, str]  # expired conversation → its live entry, to undo
    now_ms: int


@dataclass
class _Plan:
    """Which records count, and what they do to the partition's watermarks."""

    result: ApplyResult = field(default_factory=lambda: ApplyResult())
    stats: Counter[str] = field(default_factory=Counter)
    ewm: int | None = None  # the event-time watermark after the batch
    max_t: int | None = None  # the newest accepted event time
    new_last: int | None = None  # the offset watermark after the batch


@dataclass(frozen=True)
class _Batch:
    """One call of the batch script, and what to remember when it succeeds."""

    keys: list[str]
    args: list[str | int]
    ops: _Ops
    views: dict[str, tuple[kpi.ConversationView, kpi.LiveState]]
    new_values: list[str]


@dataclass(frozen=True, slots=True)
class _View:
    """A conversation as this worker last wrote it, valid while Redis holds ``version``."""

    version: str
    view: kpi.ConversationView
    live: kpi.LiveState
    events: tuple[Event, ...]
    ids: frozenset[str]
    written_ms: int


# Replies that describe the store's state, not the batch: wait and retry, never dead-letter.
_STATE_REPLIES = (("OOM", "redis_out_of_memory"), ("READONLY", "redis_read_only"),
                  ("LOADING", "redis_loading"), ("MASTERDOWN", "redis_read_only"),
                  ("BUSY", "redis_busy"), ("TRYAGAIN", "redis_busy"),
                  ("NOREPLICAS", "redis_read_only"), ("EXECABORT", "redis_busy"))


def store_state_error(exc: BaseException) -> StoreUnavailable | None:
    """The :class:`StoreUnavailable` an exception from redis-py means, or None when it is
    not about the store's state (then it is a fault of the batch, or a bug)."""
    if isinstance(exc, OutOfMemoryError):
        return StoreUnavailable(str(exc), reason="redis_out_of_memory")
    if isinstance(exc, ReadOnlyError | MasterDownError):
        return StoreUnavailable(str(exc), reason="redis_read_only")
    if isinstance(exc, TryAgainError | ExecAbortError):
        return StoreUnavailable(str(exc), reason="redis_busy")
    if isinstance(exc, BusyLoadingError):
        return StoreUnavailable(str(exc), reason="redis_loading")
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
        return StoreUnavailable(str(exc))
    if isinstance(exc, ResponseError):
        text = str(exc)
        for code, reason in _STATE_REPLIES:
            # as the reply's code, or inside a script error ("... OOM command not allowed")
            if text.startswith(code) or f" {code} " in f" {text} ":
                return StoreUnavailable(text, reason=reason)
    return None


@contextlib.contextmanager
def _store_call() -> Iterator[None]:
    """Turn redis-py's errors about the store's state into :class:`StoreUnavailable`."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError, ResponseError) as exc:
        mapped = store_state_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


def _text(x: bytes | str) -> str:
    return x.decode() if isinstance(x, bytes) else x


def _int_or_none(raw: bytes | str | None) -> int | None:
    return int(raw) if raw not in (None, b"", "") else None


class _Ops:
    """Write operations of one script call, with every key they touch listed once."""

    def __init__(self, base: int) -> None:
        self._base = base
        self._index: dict[str, int] = {}
        self.keys: list[str] = []
        self.ops: list[tuple[str, int, str, str | dict[str, int]]] = []
        self.candidates: list[tuple[int, int, str, str, list[tuple[str, int, str, str]]]] = []
        self.new_gauge_dims: set[str] = set()
        self.touched_live = False

    def _key_index(self, key: str) -> int:
        i = self._index.get(key)
        if i is None:
            self.keys.append(key)
            i = self._index[key] = self._base + len(self.keys)
        return i

    def add(self, code: str, key: str, a: str | int, b: str | int) -> None:
        self.ops.append(self.op(code, key, a, b))

    def op(self, code: str, key: str, a: str | int, b: str | int) -> tuple[str, int, str, str]:
        """An op for the script without queueing it (for expiry candidates)."""
        return (code, self._key_index(key), str(a), str(b))

    def expired(self, conversation_key: str, live_dims_key: str, cid: str, entry: str,
                undo: list[tuple[str, int, str, str]]) -> None:
        """Undo ``entry`` (the live-gauge count of an expired conversation) if, when the
        script runs, the conversation is still absent and its entry unchanged."""
        self.candidates.append((self._key_index(conversation_key),
                                self._key_index(live_dims_key), cid, entry, undo))

    def bucket(self, key: str, ttl_ms: int, fields: dict[str, int]) -> None:
        """All increments of one bucket hash as one op (the bulk of a batch's writes)."""
        self.ops.append(("B", self._key_index(key), str(ttl_ms),
                         {f: n for f, n in fields.items() if n}))


def _decode_state(cid: str, raw: bytes | str | None) -> list[Event]:
    if not raw:
        return []
    doc = json.loads(raw)
    return [Event.from_compact(cid, row) for row in doc["e"]]


def _encode_state(events: Sequence[Event]) -> str:
    return json.dumps({"e": [e.to_compact() for e in events]}, separators=(",", ":"))


def _offsets(raws: Sequence[bytes | str | None]) -> list[int | None]:
    """HMGET replies of the offsets hash: last applied offset, None when none is stored."""
    return [_int_or_none(r) for r in raws]


def _live_entry(live: kpi.LiveState, dimkeys: Sequence[str]) -> str:
    """What a conversation adds to the live gauges: open count and waiting sets per key."""
    return json.dumps([int(live.open), int(live.waiting_since is not None), list(dimkeys)],
                      separators=(",", ":"))


class WindowWriter:
    """Applies batches; one instance per worker, shared by its agents."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        cfg: KpiConfig,
        clock: Callable[[], float],
    ) -> None:
        self._redis = client
        self._keys = keys
        self._cfg = cfg
        self._clock = clock
        self._epoch: str | None = None  # the store incarnation this writer writes into
        self._source = load_lua("apply_batch.lua")
        self._sha: str | None = None
        self.script_calls = 0
        self._known_gauge_dims: set[str] = set()
        # partition field → the last offset this worker applied there, in this epoch: a
        # store watermark below it means the store went back in time
        self._applied: dict[str, int] = {}
        # conversation id -> what it was after our last write (LRU)
        self._views: OrderedDict[str, _View] = OrderedDict()

    async def _ensure_script(self) -> str:
        if self._sha is None:
            self._sha = await self._redis.script_load(self._source)
        return self._sha

    async def last_offset(self, topic: str, partition: int) -> int | None:
        """Last offset applied for a partition."""
        return (await self.last_offsets([(topic, partition)]))[0]

    async def last_offsets(self, partitions: Sequence[tuple[str, int]]) -> list[int | None]:
        """Last applied offset of several partitions in one round trip; the worker seeks
        each assigned partition to this + 1."""
        if not partitions:
            return []
        fields = [Keys.partition_field(t, p) for t, p in partitions]
        with _store_call():
            raws = await self._redis.hmget(self._keys.offsets, fields)
        return _offsets(raws)

    async def open_store(self, partitions: Sequence[tuple[str, int]] = ()) -> StoreOpening:
        """Adopt the store's epoch (creating it when Redis has none) and read the
        watermarks of ``partitions`` from that same incarnation, atomically: a worker
        positions its partitions from these, so they must not straddle a flush."""
        fields = [Keys.partition_field(t, p) for t, p in partitions]
        candidate = f"{int(self._clock())}-{uuid.uuid4().hex[:8]}"
        with _store_call():
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(self._keys.epoch, candidate, nx=True)
            pipe.get(self._keys.epoch)
            if fields:
                pipe.hmget(self._keys.offsets, fields)
            res = await pipe.execute()
        epoch = _text(res[1])
        if epoch != self._epoch:  # a new incarnation: nothing cached is true of it
            self._views.clear()
            self._known_gauge_dims.clear()
            self._applied.clear()
            self._epoch = epoch
        lasts = _offsets(res[2]) if fields else []
        return StoreOpening(epoch, bool(res[0]), lasts)

    async def check_epoch(self) -> None:
        """Raise :class:`StoreReset` when the store this writer adopted is gone, even if
        no batch comes along to be refused."""
        if self._epoch is None:
            return
        with _store_call():
            current = await self._redis.get(self._keys.epoch)
        if current is None or _text(current) != self._epoch:
            raise self._reset(_text(current) if current else "")

    def _reset(self, found: str) -> StoreReset:
        return StoreReset(f"the store epoch is {found or 'gone'!r}, not {self._epoch!r}: "
                          "Redis was flushed or lost its data")

    def _check_not_rewound(self, pfield: str, store_last: int | None) -> None:
        mine = self._applied.get(pfield)
        if mine is not None and (store_last is None or store_last < mine):
            raise StoreRewound(
                f"{pfield}: the store's watermark is {store_last}, below offset {mine} that "
                "this worker applied: Redis went back in time (restored from an older "
                "snapshot, or failed over to a lagging replica)",
                partition=pfield, store_last=store_last, applied=mine)

    async def check_rewound(self) -> None:
        """Raise :class:`StoreRewound` when the store's watermark of any partition this
        worker wrote is below what it applied (checked by every batch too)."""
        if not self._applied:
            return
        fields = sorted(self._applied)
        with _store_call():
            raws = await self._redis.hmget(self._keys.offsets, fields)
        for pfield, last in zip(fields, _offsets(raws), strict=True):
            self._check_not_rewound(pfield, last)

    async def record_rewind(self, pfield: str, offsets: int) -> None:
        """Count a rewind in the store's own counters (they went back in time too, so this
        counts what happened since the rollback)."""
        with _store_call():
            pipe = self._redis.pipeline(transaction=False)
            pipe.hincrby(self._keys.stats, f"rewind:{pfield}", 1)
            pipe.hincrby(self._keys.stats, f"rewound:{pfield}", max(0, offsets))
            await pipe.execute()

    async def describe_store(self, epoch: str, replay_from: str, lost_before_ms: int,
                             lost_ranges: str = "") -> None:
        """Record where this epoch's data starts, for the exporter's completeness gauges
        (and which offset ranges it lacks, when Kafka no longer had them)."""
        with _store_call():
            await self._redis.hset(self._keys.store_info, mapping={
                "epoch": epoch, "created_ms": int(self._clock() * 1000),
                "replay_from": replay_from, "lost_before_ms": lost_before_ms,
                "lost_ranges": lost_ranges})

    async def apply(self, topic: str, partition: int, records: Sequence[Record]) -> ApplyResult:
        """Apply records (in offset order) exactly once; retries on concurrent change."""
        with _store_call():
            if self._epoch is None:
                await self.open_store()
            return await self._apply(topic, partition, records)

    async def unapplied(self, topic: str, partition: int, offsets: Sequence[int]) -> list[int]:
        """Offsets above the stored watermark (used to send rejects to the DLQ once)."""
        last = await self.last_offset(topic, partition)
        return [o for o in offsets if last is None or o > last]

    def _capped_dimensions(self) -> list[str]:
        dims: list[str] = []
        for ds in (*self._cfg.dimension_sets, *self._cfg.gauge_dimension_sets):
            for d in ds:
                if d != "agent" and d not in dims:
                    dims.append(d)
        return dims

    async def _apply(self, topic: str, partition: int, records: Sequence[Record]) -> ApplyResult:
        """Read → plan (pure) → write, until the script accepts the batch: a conflict means
        another writer (or a stale cache) moved something, and everything is read fresh."""
        pfield = Keys.partition_field(topic, partition)
        cids = sorted({r.event.conversation_id for r in records if r.event is not None})
        for attempt in range(1, MAX_ATTEMPTS + 1):
            snap = await self._read(pfield, cids)
            if snap.epoch != self._epoch:  # flushed or emptied: rebuild, do not rewind
                raise self._reset(snap.epoch)
            self._check_not_rewound(pfield, snap.last)
            plan = self._plan(records, snap, topic)
            if plan.new_last is None:
                return plan.result  # everything was at or below the watermark
            batch = self._batch(pfield, snap, plan)
            outcome = await self._eval(batch.keys, batch.args)
            self.script_calls += 1
            if outcome[0] == "epoch":
                raise self._reset(outcome[1])
            if outcome[0] == "ok":
                self._known_gauge_dims |= batch.ops.new_gauge_dims
                self._remember(snap.states, batch.views, snap.now_ms)
                self._applied[pfield] = max(self._applied.get(pfield, -1), plan.new_last)
                if batch.new_values:
                    log.info("new dimension values admitted: %s", batch.new_values)
                return plan.result
            for cid in cids:  # someone else wrote (or our cache was stale): read fresh
                self._views.pop(cid, None)
            log.info("batch for %s conflicted (attempt %d); re-reading", pfield, attempt)
        raise StoreConflict(f"{pfield}: gave up after {MAX_ATTEMPTS} conflicting attempts")

    async def _read(self, pfield: str, cids: Sequence[str]) -> _Snapshot:
        """Everything a batch depends on, in one pipelined round trip (plus one for the
        live entries of expired conversations, when there are any).

        A conversation this worker wrote last is not read at all: its cached events are
        assumed current and the script checks its version before writing. On a conflict
        the batch's cache entries are dropped and everything is read fresh."""
        capped = self._capped_dimensions()
        cached = {cid: self._views[cid] for cid in cids if cid in self._views}
        uncached = [cid for cid in cids if cid not in cached]
        now_ms = int(self._clock() * 1000)
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(self._keys.epoch)
        pipe.hget(self._keys.offsets, pfield)
        pipe.hget(self._keys.event_watermarks, pfield)
        for d in capped:
            pipe.smembers(self._keys.dimension_values(d))
        for cid in uncached:
            pipe.hmget(self._keys.conversation(cid), "v", "s")
        pipe.zrangebyscore(self._keys.live, "-inf",
                           now_ms - self._cfg.conversation_ttl_ms - EXPIRY_GRACE_MS,
                           start=0, num=EXPIRED_PER_BATCH)
        if uncached:
            pipe.hmget(self._keys.live_dims, uncached)
        raw = iter(await pipe.execute())
        epoch_raw = next(raw)
        epoch = _text(epoch_raw) if epoch_raw else ""
        last, ewm = _int_or_none(next(raw)), _int_or_none(next(raw))
        admitted = {d: {_text(v) for v in next(raw)} for d in capped}
        conv_raw = [next(raw) for _ in uncached]
        expired_ids = [_text(c) for c in next(raw)]
        live_raw = next(raw) if uncached else []
        states = {cid: _ConvState(version=view.version, events=list(view.events),
                                  ids=set(view.ids)) for cid, view in cached.items()}
        for cid, (v, st_raw) in zip(uncached, conv_raw, strict=True):
            evs = _decode_state(cid, st_raw)
            states[cid] = _ConvState(version=_text(v) if v else "", events=evs,
                                     ids={e.event_id for e in evs})
        # live-gauge counts left by conversations whose state expired: those coming back
        # in this batch, and (a bounded number of) the others
        stale = {cid: _text(entry) for cid, entry, (v, _) in
                 zip(uncached, live_raw, conv_raw, strict=True) if not v and entry}
        expired = [c for c in expired_ids if c not in states]
        if expired:
            entries = await self._redis.hmget(self._keys.live_dims, expired)
            stale |= {c: _text(e) if e else "" for c, e in zip(expired, entries, strict=True)}
        return _Snapshot(epoch, last, ewm, admitted, states, stale, now_ms)

    def _batch(self, pfield: str, snap: _Snapshot, plan: _Plan) -> _Batch:
        """The script call that turns ``snap`` into ``snap`` + ``plan`` (pure)."""
        states = snap.states
        changed = [cid for cid in sorted(states) if states[cid].changed]
        ops = _Ops(base=4 + len(changed))
        for cid, entry in sorted(snap.stale.items()):
            self._undo_live(cid, entry, ops)
        new_values = self._admit(changed, states, snap.admitted, ops, plan.stats)
        views = self._conversation_ops(changed, snap, ops)
        self._pipeline_ops(ops, plan, snap.now_ms)
        assert self._epoch is not None
        keys = [self._keys.offsets, self._keys.event_watermarks, self._keys.stats,
                self._keys.epoch, *(self._keys.conversation(c) for c in changed), *ops.keys]
        args: list[str | int] = [
            pfield,
            "" if snap.last is None else str(snap.last),
            plan.new_last if plan.new_last is not None else "",
            "" if plan.ewm is None or plan.ewm == snap.ewm else plan.ewm,
            self._epoch,
            len(changed),
            self._cfg.conversation_ttl_ms,
        ]
        for cid in changed:
            args.append(states[cid].version)
            args.append(_encode_state(states[cid].events))
        args.append(json.dumps(ops.ops, separators=(",", ":")))
        args.append(json.dumps(ops.candidates, separators=(",", ":")))
        return _Batch(keys, args, ops, views, new_values)

    def _conversation_ops(self, changed: Sequence[str], snap: _Snapshot, ops: _Ops
                          ) -> dict[str, tuple[kpi.ConversationView, kpi.LiveState]]:
        """Bucket increments and live-gauge moves of every changed conversation: the
        difference between its contribution before and after this batch."""
        views: dict[str, tuple[kpi.ConversationView, kpi.LiveState]] = {}
        deltas: kpi.BucketDeltas = {}
        for cid in changed:
            st = snap.states[cid]
            old_events = st.events[: len(st.events) - st.new_count]
            view = self._views.get(cid)
            if view is not None and view.version == st.version:
                before, before_live = view.view, view.live
            elif old_events:
                before = kpi.contributions(old_events, self._cfg)
                before_live = kpi.live_state(old_events, self._cfg)
            else:
                before, before_live = None, None
            after = kpi.contributions(st.events, self._cfg)
            after_live = kpi.live_state(st.events, self._cfg)
            kpi.merge_bucket_deltas(deltas,
                                    kpi.bucket_deltas(before, after, self._cfg, snap.admitted))
            self._gauge_ops(cid, before_live, after_live, snap.admitted, ops, snap.now_ms)
            views[cid] = (after, after_live)
        if ops.touched_live:
            # outlive every member by a TTL: undoing needs the entries; and when all
            # is silent that long, every count in the open hash is stale too
            for key in (self._keys.live, self._keys.live_dims, self._keys.open_counts,
                        self._keys.known_counts):
                ops.add("E", key, 2 * self._cfg.conversation_ttl_ms, "")
        for (res, start), fields in sorted(deltas.items()):
            ops.bucket(self._keys.bucket(res, start), self._cfg.bucket_ttl_ms(res), fields)
        return views

    def _pipeline_ops(self, ops: _Ops, plan: _Plan, now_ms: int) -> None:
        """The pipeline counters and freshness times, in the same script as the windows."""
        for k, v in plan.stats.items():
            if v:
                ops.add("H", self._keys.stats, k, v)
        if plan.max_t is not None:
            ops.add("M", self._keys.stats, "last_event_ms", plan.max_t)
        ops.add("M", self._keys.stats, "last_applied_ms", now_ms)

    def _admit(self, changed: list[str], states: dict[str, _ConvState],
               admitted: dict[str, set[str]], ops: _Ops, stats: Counter[str]) -> list[str]:
        """Admit new dimension values up to the cap; beyond it they are exported as other."""
        new_values: list[str] = []
        cap = self._cfg.max_dimension_values
        for cid in changed:
            dims = kpi.conversation_dims(states[cid].events, self._cfg)
            for d, members in admitted.items():
                v = dims[d]
                if v in members:
                    continue
                if len(members) < cap:
                    members.add(v)
                    ops.add("S", self._keys.dimension_values(d), v, "")
                    new_values.append(f"{d}={v}")
                else:
                    stats[f"overflow:{d}"] += states[cid].new_count
        return new_values

    def _remember(self, states: dict[str, _ConvState],
                  views: dict[str, tuple[kpi.ConversationView, kpi.LiveState]],
                  now_ms: int) -> None:
        """Keep each written conversation's computed view, keyed by the version the script
        just gave it, so the next batch need not recompute its "before". Entries go in
        write order; the oldest leave when the cache is full or when their state has
        expired in Redis (a cached view of it could only cause a conflict)."""
        for cid, (view, live) in views.items():
            st = states[cid]
            self._views[cid] = _View(str(int(st.version or 0) + 1), view, live,
                                     tuple(st.events), frozenset(st.ids), now_ms)
            self._views.move_to_end(cid)
        expired_before = now_ms - self._cfg.conversation_ttl_ms
        while self._views and (len(self._views) > VIEW_CACHE
                               or next(iter(self._views.values())).written_ms < expired_before):
            self._views.popitem(last=False)

    def _undo_live(self, cid: str, entry: str, ops: _Ops) -> None:
        """Queue the undoing of an expired conversation's live-gauge count (``entry`` as
        read from the live-dims hash, "" when it had none)."""
        undo = []
        if entry:
            is_open, waiting, dimkeys = json.loads(entry)
            for dk in dimkeys:
                undo.append(ops.op("K", self._keys.known_counts, dk, -1))
                if is_open:
                    undo.append(ops.op("H", self._keys.open_counts, dk, -1))
                if waiting:
                    undo.append(ops.op("R", self._keys.waiting(dk), cid, ""))
                    undo.append(ops.op("R", self._keys.due(dk), cid, ""))
        undo.append(ops.op("R", self._keys.live, cid, ""))
        undo.append(ops.op("D", self._keys.live_dims, cid, ""))
        ops.expired(self._keys.conversation(cid), self._keys.live_dims, cid, entry, undo)

    def _gauge_ops(self, cid: str, before: kpi.LiveState | None, after: kpi.LiveState,
                   admitted: dict[str, set[str]], ops: _Ops, now_ms: int) -> None:
        """Move the conversation's live-gauge count from ``before`` to ``after``, and keep
        its live entry (activity time and what it counts) so expiry can undo it."""
        sets = self._cfg.gauge_dimension_sets
        adims = kpi.cap_dims(dict(after.dims), admitted)
        dimkeys = [kpi.dimension_key(adims, ds) for ds in sets]
        # every conversation with state is tracked (the state's TTL restarts with this
        # write; so does its entry), so that expiry can undo what it counts
        ops.add("Z", self._keys.live, now_ms, cid)
        ops.add("F", self._keys.live_dims, cid, _live_entry(after, dimkeys))
        ops.touched_live = True
        if before == after:
            return
        ttl = self._cfg.conversation_ttl_ms
        bdimkeys: list[str] = []
        if before is not None:
            bdims = kpi.cap_dims(dict(before.dims), admitted)
            bdimkeys = [kpi.dimension_key(bdims, ds) for ds in sets]
        if bdimkeys != dimkeys:  # the conversations a dimension key holds: its gauges exist
            for dk in bdimkeys:
                ops.add("K", self._keys.known_counts, dk, -1)
            for dk in dimkeys:
                ops.add("K", self._keys.known_counts, dk, 1)
        if before is not None:
            for dk in bdimkeys:
                if before.open:
                    ops.add("H", self._keys.open_counts, dk, -1)
                if before.waiting_since is not None:
                    ops.add("R", self._keys.waiting(dk), cid, "")
                    ops.add("R", self._keys.due(dk), cid, "")
        for dk in dimkeys:
            if dk not in self._known_gauge_dims and dk not in ops.new_gauge_dims:
                ops.new_gauge_dims.add(dk)  # SADD once per worker, not per event
                ops.add("S", self._keys.gauge_dims, dk, "")
            if after.open:
                ops.add("H", self._keys.open_counts, dk, 1)
            if after.waiting_since is not None:
                ops.add("Z", self._keys.waiting(dk), after.waiting_since, cid)
                ops.add("Z", self._keys.due(dk), after.deadline or after.waiting_since, cid)
                ops.add("E", self._keys.waiting(dk), ttl, "")
                ops.add("E", self._keys.due(dk), ttl, "")

    async def _eval(self, keys: list[str], args: list[str | int]) -> tuple[str, str]:
        """("ok", "") or what moved: ("epoch" | "offset" | "conversation", detail)."""
        sha = await self._ensure_script()
        try:
            res = await self._redis.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:
            self._sha = None
            sha = await self._ensure_script()
            res = await self._redis.evalsha(sha, len(keys), *keys, *args)
        if int(res[0]) == 1:
            return ("ok", "")
        return (_text(res[1]), _text(res[2]) if isinstance(res[2], (bytes, str)) else str(res[2]))

    def _plan(self, records: Sequence[Record], snap: _Snapshot, topic: str) -> _Plan:
        """Which records count (pure): above the watermark, not a duplicate, not late;
        accepted events join their conversation's state."""
        plan = _Plan(ewm=snap.ewm)
        result, stats = plan.result, plan.stats
        lateness = self._cfg.allowed_lateness_ms
        last = snap.last
        for st in snap.states.values():
            st.new_count = 0
        for r in sorted(records, key=lambda r: r.offset):
            if last is not None and r.offset <= last:
                result.skipped_offsets += 1
                continue
            plan.new_last = r.offset if plan.new_last is None else max(plan.new_last, r.offset)
            if r.event is None:
                result.rejected += 1
                stats[f"rejected:{r.reason or 'unknown'}"] += 1
                continue
            e = r.event
            st = snap.states[e.conversation_id]
            if e.event_id in st.ids:  # a duplicate is not a lost event, even when late
                result.duplicates += 1
                stats["duplicate:event_id"] += 1
                continue
            if plan.ewm is not None and e.t_ms < plan.ewm - lateness:
                result.late += 1
                stats[f"late:{e.type}"] += 1
                continue
            plan.ewm = e.t_ms if plan.ewm is None else max(plan.ewm, e.t_ms)
            st.ids.add(e.event_id)
            st.events.append(e)
            st.new_count += 1
            st.changed = True
            result.applied += 1
            stats[f"processed:{topic}"] += 1
            plan.max_t = e.t_ms if plan.max_t is None else max(plan.max_t, e.t_ms)
        return plan
