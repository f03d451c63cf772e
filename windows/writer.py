"""Thin async I/O layer that applies one partition's batch to Redis.

Read (one pipelined round trip) → compute with the pure functions of
:mod:`windows.kpi` → write with one atomic Lua script (second round trip). If the
script reports that a watermark or conversation moved in between, the whole batch is
recomputed from a fresh read: correctness never depends on there being one writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import NamedTuple

import orjson
import redis.asyncio as aioredis
from redis.exceptions import (  # type: ignore[attr-defined]  # the stubs lack OutOfMemoryError
    BusyLoadingError,
    ExecAbortError,
    MasterDownError,
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
# Re-reads (seconds apart) before a watermark below what this worker applied counts as a
# rewind: a read during a failover can be a moment stale (see _confirm_rewound).
REWIND_RECHECKS_S = (0.2, 0.5, 1.0, 2.0)


def load_lua(name: str) -> str:
    return resources.files("windows").joinpath("lua", name).read_text(encoding="utf-8")


class Record(NamedTuple):
    """One Kafka message of a batch, already validated (``event``) or rejected (``reason``).

    A named tuple, not a frozen dataclass: one is built per event, and a frozen
    dataclass' ``__init__`` (``object.__setattr__`` per field) was 2% of a worker's time."""

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
    lost: tuple[str, ...] = ()  # partitions of this epoch whose slot lost its data


@dataclass
class _ConvState:
    version: str
    events: list[Event]
    ids: set[str]
    folded: kpi.Folded | None = None  # the summary of a long conversation's older messages
    changed: bool = False
    new_count: int = 0
    _dims: dict[str, str] | None = None

    def dims(self, cfg: KpiConfig) -> dict[str, str]:
        """Its labels after this batch's events (computed once: the cap reads them twice)."""
        if self._dims is None:
            self._dims = kpi.conversation_dims(self.events, cfg, self.folded)
        return self._dims


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
    args: list[str | int | bytes]
    ops: _Ops
    views: dict[str, tuple[kpi.ConversationView, kpi.LiveState]]


@dataclass(frozen=True, slots=True)
class _View:
    """A conversation as this worker last wrote it, valid while Redis holds ``version``."""

    version: str
    view: kpi.ConversationView
    live: kpi.LiveState
    events: tuple[Event, ...]
    ids: frozenset[str]
    folded: kpi.Folded | None
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
    """Write operations of one script call, grouped so that the script makes one Redis call
    per key where the command takes many members (ZADD, ZREM, HSET, SADD) and one per field
    where it does not (HINCRBY: a batch's moves of one counter are summed first). Every key
    they touch is listed once.

    Grouping keeps the meaning of the ops in order: per key, removals run before additions
    (a conversation leaves its old sets before it joins its new ones), increments are
    summed (they commute), and a floored count takes its decrements before its increments
    (one serial order of the batch's conversations, as good as any other). Redis time per
    call, not per member, was most of a batch script's cost."""

    def __init__(self, base: int) -> None:
        self._base = base
        self._index: dict[str, int] = {}
        self.keys: list[str] = []
        self.candidates: list[tuple[int, int, str, str, list[tuple[str, int, str, str]]]] = []
        self.new_gauge_dims: set[tuple[str, str]] = set()
        self.touched_live = False
        self._incr: dict[int, dict[str, int]] = {}
        self._floored: dict[int, dict[str, list[int]]] = {}
        self._zadd: dict[int, list[str | int]] = {}
        self._zrem: dict[int, list[str]] = {}
        self._hset: dict[int, dict[str, str]] = {}
        self._sadd: dict[int, list[str]] = {}
        self._hmax: list[tuple[int, str, int]] = []
        self._expire: dict[int, int] = {}
        self._buckets: list[list[str | int]] = []

    def _key_index(self, key: str) -> int:
        i = self._index.get(key)
        if i is None:
            self.keys.append(key)
            i = self._index[key] = self._base + len(self.keys)
        return i

    def incr(self, key: str, field: str, n: int) -> None:
        """HINCRBY, summed over the batch."""
        fields = self._incr.setdefault(self._key_index(key), {})
        fields[field] = fields.get(field, 0) + n

    def floored(self, key: str, field: str, n: int) -> None:
        """A count that never goes below 0 (a store older than it did not count)."""
        parts = self._floored.setdefault(self._key_index(key), {}).setdefault(field, [0, 0])
        parts[0 if n < 0 else 1] += n

    def zadd(self, key: str, score: int, member: str) -> None:
        self._zadd.setdefault(self._key_index(key), []).extend((score, member))

    def zrem(self, key: str, member: str) -> None:
        self._zrem.setdefault(self._key_index(key), []).append(member)

    def hset(self, key: str, field: str, value: str) -> None:
        self._hset.setdefault(self._key_index(key), {})[field] = value

    def sadd(self, key: str, member: str) -> None:
        self._sadd.setdefault(self._key_index(key), []).append(member)

    def hmax(self, key: str, field: str, value: int) -> None:
        """HSET unless the stored value is larger (the newest time)."""
        self._hmax.append((self._key_index(key), field, value))

    def expire(self, key: str, ttl_ms: int) -> None:
        """PEXPIRE after every write of the batch (the key exists by then)."""
        i = self._key_index(key)
        self._expire[i] = max(ttl_ms, self._expire.get(i, 0))

    def op(self, code: str, key: str, a: str | int, b: str | int) -> tuple[str, int, str, str]:
        """One op of an expiry candidate's undo list, run in order by the script (see
        apply_batch.lua)."""
        return (code, self._key_index(key), str(a), str(b))

    def expired(self, conversation_key: str, live_dims_key: str, cid: str, entry: str,
                undo: list[tuple[str, int, str, str]]) -> None:
        """Undo ``entry`` (the live-gauge count of an expired conversation) if, when the
        script runs, the conversation is still absent and its entry unchanged."""
        self.candidates.append((self._key_index(conversation_key),
                                self._key_index(live_dims_key), cid, entry, undo))

    def bucket(self, key: str, ttl_ms: int, fields: dict[str, int]) -> None:
        """All increments of one bucket hash (the bulk of a batch's writes); ``fields``
        holds no zeros (:func:`windows.kpi.without_zeros`)."""
        flat: list[str | int] = [self._key_index(key), ttl_ms]
        for f, n in fields.items():
            flat.append(f)
            flat.append(n)
        self._buckets.append(flat)

    def payload(self) -> bytes:
        """The grouped ops as the script's JSON argument (see apply_batch.lua)."""
        return orjson.dumps({
            "r": [[i, *m] for i, m in self._zrem.items()],
            "z": [[i, *m] for i, m in self._zadd.items()],
            "h": [[i, *(x for fn in f.items() if fn[1] for x in fn)]
                  for i, f in self._incr.items()],
            "k": [[i, f, neg, pos] for i, fs in self._floored.items()
                  for f, (neg, pos) in fs.items()],
            "f": [[i, *(x for fv in f.items() for x in fv)] for i, f in self._hset.items()],
            "s": [[i, *m] for i, m in self._sadd.items()],
            "m": self._hmax,
            "b": self._buckets,
            "e": [[i, ttl] for i, ttl in self._expire.items()],
        })


def _decode_state(cid: str, raw: bytes | str | None) -> tuple[list[Event], kpi.Folded | None]:
    if not raw:
        return [], None
    doc = json.loads(raw)
    folded = None
    if "f" in doc:  # [boundary t, rank, id, pending, [[dimension, value], ...]]
        t, rank, eid, pending, dims = doc["f"]
        folded = kpi.Folded((t, rank, eid), pending, tuple((d, v) for d, v in dims))
    return [Event.from_compact(cid, row) for row in doc["e"]], folded


def _encode_state(events: Sequence[Event], folded: kpi.Folded | None) -> str:
    doc: dict[str, object] = {"e": [e.to_compact() for e in events]}
    if folded is not None:
        doc["f"] = [*folded.boundary, folded.pending, [list(d) for d in folded.dims]]
    return orjson.dumps(doc).decode()


def _offsets(raws: Sequence[bytes | str | None]) -> list[int | None]:
    """HMGET replies of the offsets hash: last applied offset, None when none is stored."""
    return [_int_or_none(r) for r in raws]


def _live_entry(live: kpi.LiveState, dimkeys: Sequence[str]) -> str:
    """What a conversation adds to the live gauges: open count, waiting and due sets per
    key, and the SLA policy targets running (older entries have only the first three)."""
    return orjson.dumps([int(live.open), int(live.waiting_since is not None), list(dimkeys),
                         list(live.running)]).decode()


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
        self._claimed: set[str] = set()  # partitions whose slot carries that epoch
        self._script = client.register_script(load_lua("apply_batch.lua"))
        self._admit_script = client.register_script(load_lua("admit_values.lua"))
        self.script_calls = 0
        self._known_gauge_dims: set[tuple[str, str]] = set()  # (partition, dimension key)
        # partition field → the last offset this worker applied there, in this epoch: a
        # store watermark below it means the store went back in time
        self._applied: dict[str, int] = {}
        # conversation id -> what it was after our last write (LRU)
        self._views: OrderedDict[str, _View] = OrderedDict()

    async def last_offset(self, topic: str, partition: int) -> int | None:
        """Last offset applied for a partition."""
        return (await self.last_offsets([(topic, partition)]))[0]

    async def last_offsets(self, partitions: Sequence[tuple[str, int]]) -> list[int | None]:
        """Last applied offset of several partitions in one round trip; the worker seeks
        each assigned partition to this + 1."""
        return await self._watermarks([Keys.partition_field(t, p) for t, p in partitions])

    async def _watermarks(self, fields: Sequence[str]) -> list[int | None]:
        if not fields:
            return []
        with _store_call():
            pipe = self._redis.pipeline(transaction=False)
            for f in fields:
                pipe.hget(self._keys.of(f).offsets, f)
            return _offsets(await pipe.execute())

    async def open_store(self, partitions: Sequence[tuple[str, int]] = ()) -> StoreOpening:
        """Adopt the store's epoch (creating it when Redis has none) and claim
        ``partitions`` for it: a partition's slot gets a copy of the epoch, which its batch
        scripts check. The watermarks come back with the copies they were read beside, so
        a worker never positions a partition from a straddled flush.

        A partition the registry knows in this epoch whose copy is gone lost its data (in
        a cluster, its node was flushed or failed over empty): it is rebuilt, and named in
        ``lost``. A copy of an older epoch marks leftovers of a store that was lost: they
        are deleted before the partition is rebuilt."""
        fields = [Keys.partition_field(t, p) for t, p in partitions]
        candidate = f"{int(self._clock())}-{uuid.uuid4().hex[:8]}"
        shared = self._keys
        with _store_call():
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(shared.epoch)  # a read: a full (OOM) or read-only store still opens
            for f in fields:
                pipe.hget(shared.partitions, f)
                pipe.get(self._keys.of(f).epoch)
                pipe.hget(self._keys.of(f).offsets, f)
            res = await pipe.execute()
            created = False
            if res[0] is None:  # none yet: create it, unless another worker just did
                res[0] = await self._redis.set(shared.epoch, candidate, nx=True, get=True)
                created = res[0] is None
        epoch = candidate if created else _text(res[0])
        self._adopt(epoch)
        lasts: list[int | None] = []
        lost: list[str] = []
        rebuilt: set[str] = set()  # slots emptied and claimed by this opening
        for i, f in enumerate(fields):
            reg_raw, copy_raw, last_raw = res[1 + 3 * i: 4 + 3 * i]
            registered, last = _text(reg_raw) if reg_raw else "", _int_or_none(last_raw)
            copy, slot = _text(copy_raw) if copy_raw else "", self._keys.of(f).tag
            if copy != epoch and registered == epoch:
                lost.append(f)
            if copy != epoch and slot not in rebuilt:
                if copy or last is not None:
                    await self._wipe(f, copy)
                rebuilt.add(slot)
            if slot in rebuilt:
                last = None  # read before the slot was emptied
            if slot in rebuilt or registered != epoch:
                await self._claim(f, epoch)
            self._claimed.add(f)
            lasts.append(last)
        return StoreOpening(epoch, created, lasts, tuple(lost))

    def _adopt(self, epoch: str) -> None:
        if epoch != self._epoch:  # a new incarnation: nothing cached is true of it
            self._views.clear()
            self._known_gauge_dims.clear()
            self._applied.clear()
            self._claimed.clear()
            self._epoch = epoch

    async def _claim(self, pfield: str, epoch: str) -> None:
        """Mark the partition's slot as written in ``epoch``, then register it (two slots,
        so two calls: a crash in between leaves a copy, and the next opening registers)."""
        k = self._keys.of(pfield)
        with _store_call():
            found: bytes | str | None = await self._redis.set(  # type: ignore[assignment]
                k.epoch, epoch, nx=True, get=True)  # GET: the old value, None when set
            if found is not None and _text(found) != epoch:
                raise self._reset(_text(found), f"partition {pfield}")
            await self._redis.hset(self._keys.partitions, pfield, epoch)

    async def _wipe(self, pfield: str, copy: str) -> None:
        """Delete what a partition holds from an earlier incarnation (every key of its
        slot), so that rebuilding it does not count on top of leftovers."""
        k = self._keys.of(pfield)
        log.warning("partition %s holds data of %s, not of epoch %s: deleting it before "
                    "rebuilding", pfield, f"epoch {copy!r}" if copy else "no epoch",
                    self._epoch)
        with _store_call():
            batch: list[bytes | str] = []
            async for key in self._redis.scan_iter(match=f"{k.tag}:*", count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    await self._redis.unlink(*batch)
                    batch.clear()
            if batch:
                await self._redis.unlink(*batch)

    async def check_epoch(self) -> None:
        """Raise :class:`StoreReset` when the store this writer adopted is gone, or the slot
        of a partition it claimed lost its copy, even if no batch comes to be refused."""
        if self._epoch is None:
            return
        slots = sorted({self._keys.of(f).epoch: f for f in self._claimed}.items())
        with _store_call():
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(self._keys.epoch)
            for key, _f in slots:
                pipe.get(key)
            found = [_text(r) if r else "" for r in await pipe.execute()]
        names = ["the store", *(f"partition {f}" for _k, f in slots)]
        for where, current in zip(names, found, strict=True):
            if current != self._epoch:
                raise self._reset(current, where)

    def _reset(self, found: str, where: str = "the store") -> StoreReset:
        return StoreReset(f"the epoch of {where} is {found or 'gone'!r}, not "
                          f"{self._epoch!r}: Redis was flushed or lost its data")

    def _below_applied(self, pfield: str, store_last: int | None,
                       applied: Mapping[str, int] | None = None) -> bool:
        mine = (self._applied if applied is None else applied).get(pfield)
        return mine is not None and (store_last is None or store_last < mine)

    async def _confirm_rewound(self, pfield: str, store_last: int | None) -> None:
        """Raise :class:`StoreRewound` if the watermark stays below what this worker applied.

        One low read is not proof: while a cluster fails over, the old master can answer a
        read for a moment before it learns it was demoted, with data a few batches old. A
        store restored from an older snapshot stays behind; a stale read does not."""
        for pause in REWIND_RECHECKS_S:
            await asyncio.sleep(pause)
            again = (await self._watermarks([pfield]))[0]
            if not self._below_applied(pfield, again):
                log.info("%s: one read of the store's watermark said %s, the next %s: a stale "
                         "read (a failover in progress), not a rewind", pfield, store_last,
                         again)
                return
            store_last = again
        mine = self._applied[pfield]
        raise StoreRewound(
            f"{pfield}: the store's watermark is {store_last}, below offset {mine} that "
            "this worker applied: Redis went back in time (restored from an older "
            "snapshot, or failed over to a lagging replica)",
            partition=pfield, store_last=store_last, applied=mine)

    async def check_rewound(self) -> None:
        """Raise :class:`StoreRewound` when the store's watermark of any partition this
        worker wrote stays below what it applied (checked by every batch too)."""
        # what was applied before the read: a batch landing during it is not a rewind
        applied = dict(self._applied)
        fields = sorted(applied)
        for pfield, last in zip(fields, await self._watermarks(fields), strict=True):
            if self._below_applied(pfield, last, applied):
                await self._confirm_rewound(pfield, last)

    async def record_rewind(self, pfield: str, offsets: int) -> None:
        """Count a rewind in the partition's own counters (they went back in time too, so
        this counts what happened since the rollback)."""
        stats = self._keys.of(pfield).stats
        with _store_call():
            pipe = self._redis.pipeline(transaction=False)
            pipe.hincrby(stats, f"rewind:{pfield}", 1)
            pipe.hincrby(stats, f"rewound:{pfield}", max(0, offsets))
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
        """Apply records (in offset order) exactly once; retries on concurrent change.

        A partition not opened by :meth:`open_store` is opened here; one that lost its data
        cannot be rebuilt from inside a batch, so that raises :class:`StoreReset`."""
        pfield = Keys.partition_field(topic, partition)
        with _store_call():
            if pfield not in self._claimed:
                opening = await self.open_store([(topic, partition)])
                if opening.lost:
                    raise self._reset("", f"partition {pfield}")
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
                raise self._reset(snap.epoch, f"partition {pfield}")
            if self._below_applied(pfield, snap.last):
                await self._confirm_rewound(pfield, snap.last)
                continue  # it was a stale read: read again
            plan = self._plan(records, snap, topic)
            if plan.new_last is None:
                return plan.result  # everything was at or below the watermark
            changed = [cid for cid, st in snap.states.items() if st.changed]
            wanted = self._wanted(changed, snap.states, snap.admitted)
            if wanted:
                for d, granted in (await self._admit(wanted)).items():
                    new = sorted(granted - snap.admitted[d])
                    if new:
                        log.info("new %s values admitted: %s", d, new)
                    snap.admitted[d] |= granted
            batch = self._batch(pfield, snap, plan)
            outcome = await self._eval(batch.keys, batch.args)
            self.script_calls += 1
            if outcome[0] == "epoch":
                raise self._reset(outcome[1], f"partition {pfield}")
            if outcome[0] == "ok":
                self._known_gauge_dims |= batch.ops.new_gauge_dims
                self._remember(snap.states, batch.views, snap.now_ms)
                self._applied[pfield] = max(self._applied.get(pfield, -1), plan.new_last)
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
        k = self._keys.of(pfield)
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(k.epoch)
        pipe.hget(k.offsets, pfield)
        pipe.hget(k.event_watermarks, pfield)
        for d in capped:
            pipe.smembers(self._keys.dimension_values(d))
        for cid in uncached:
            pipe.hmget(k.conversation(cid), "v", "s")
        pipe.zrangebyscore(k.live, "-inf",
                           now_ms - self._cfg.conversation_ttl_ms - EXPIRY_GRACE_MS,
                           start=0, num=EXPIRED_PER_BATCH)
        if uncached:
            pipe.hmget(k.live_dims, uncached)
        raw = iter(await pipe.execute())
        epoch_raw = next(raw)
        epoch = _text(epoch_raw) if epoch_raw else ""
        last, ewm = _int_or_none(next(raw)), _int_or_none(next(raw))
        admitted = {d: {_text(v) for v in next(raw)} for d in capped}
        conv_raw = [next(raw) for _ in uncached]
        expired_ids = [_text(c) for c in next(raw)]
        live_raw = next(raw) if uncached else []
        states = {cid: _ConvState(version=view.version, events=list(view.events),
                                  ids=set(view.ids), folded=view.folded)
                  for cid, view in cached.items()}
        for cid, (v, st_raw) in zip(uncached, conv_raw, strict=True):
            evs, folded = _decode_state(cid, st_raw)
            states[cid] = _ConvState(version=_text(v) if v else "", events=evs,
                                     ids={e.event_id for e in evs}, folded=folded)
        # live-gauge counts left by conversations whose state expired: those coming back
        # in this batch, and (a bounded number of) the others
        stale = {cid: _text(entry) for cid, entry, (v, _) in
                 zip(uncached, live_raw, conv_raw, strict=True) if not v and entry}
        expired = [c for c in expired_ids if c not in states]
        if expired:
            entries = await self._redis.hmget(k.live_dims, expired)
            stale |= {c: _text(e) if e else "" for c, e in zip(expired, entries, strict=True)}
        return _Snapshot(epoch, last, ewm, admitted, states, stale, now_ms)

    def _batch(self, pfield: str, snap: _Snapshot, plan: _Plan) -> _Batch:
        """The script call that turns ``snap`` into ``snap`` + ``plan`` (pure)."""
        k = self._keys.of(pfield)
        states = snap.states
        changed = [cid for cid in sorted(states) if states[cid].changed]
        ops = _Ops(base=4 + len(changed))
        for cid, entry in sorted(snap.stale.items()):
            self._undo_live(k, cid, entry, ops)
        self._overflow(changed, states, snap.admitted, plan.stats)
        views = self._conversation_ops(k, changed, snap, ops)
        self._pipeline_ops(k, ops, plan, snap.now_ms)
        ops.hmax(k.applied_at, pfield, snap.now_ms)
        assert self._epoch is not None
        keys = [k.offsets, k.event_watermarks, k.stats,
                k.epoch, *(k.conversation(c) for c in changed), *ops.keys]
        args: list[str | int | bytes] = [
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
            args.append(_encode_state(states[cid].events, states[cid].folded))
        args.append(ops.payload())  # a batch's ops: ~1 MB of JSON
        args.append(orjson.dumps(ops.candidates))
        return _Batch(keys, args, ops, views)

    def _conversation_ops(self, k: Keys, changed: Sequence[str], snap: _Snapshot, ops: _Ops
                          ) -> dict[str, tuple[kpi.ConversationView, kpi.LiveState]]:
        """Bucket increments and live-gauge moves of every changed conversation: the
        difference between its contribution before and after this batch."""
        views: dict[str, tuple[kpi.ConversationView, kpi.LiveState]] = {}
        deltas: kpi.Deltas = {}
        for cid in changed:
            st = snap.states[cid]
            old_events = st.events[: len(st.events) - st.new_count]
            view = self._views.get(cid)
            if view is not None and view.version == st.version:
                before, before_live = view.view, view.live
            elif old_events:
                before, before_live = kpi.evaluate(old_events, self._cfg, st.folded)
            else:
                before, before_live = None, None
            after, after_live = kpi.evaluate(st.events, self._cfg, st.folded)
            kpi.add_bucket_deltas(deltas, before, after, self._cfg, snap.admitted)
            self._gauge_ops(k, cid, before_live, after_live, snap.admitted, ops, snap.now_ms)
            views[cid] = (self._fold(st) or after, after_live)
        if ops.touched_live:
            # outlive every member by a TTL: undoing needs the entries; and when all
            # is silent that long, every count in the open hash is stale too
            for key in (k.live, k.live_dims, k.open_counts,
                        k.known_counts):
                ops.expire(key, 2 * self._cfg.conversation_ttl_ms)
        for res, starts in deltas.items():
            ttl = self._cfg.bucket_ttl_ms(res)
            for start, fields in starts.items():
                changed_fields = {f: n for f, n in fields.items() if n}
                if changed_fields:  # a retraction can cancel an increment
                    ops.bucket(k.bucket(res, start), ttl, changed_fields)
        return views

    def _fold(self, st: _ConvState) -> kpi.ConversationView | None:
        """Bound a long conversation's state (:func:`windows.kpi.fold`) once its delta is
        computed; returns its view from now on (what the buckets hold of it apart from
        the folded response times), or None when it was not folded."""
        kept, folded = kpi.fold(st.events, st.folded, self._cfg)
        if folded is st.folded:
            return None
        st.events, st.folded, st.ids = kept, folded, {e.event_id for e in kept}
        return kpi.contributions(kept, self._cfg, folded)

    def _pipeline_ops(self, k: Keys, ops: _Ops, plan: _Plan, now_ms: int) -> None:
        """The pipeline counters and freshness times, in the same script as the windows."""
        for name, v in plan.stats.items():
            if v:
                ops.incr(k.stats, name, v)
        if plan.max_t is not None:
            ops.hmax(k.stats, "last_event_ms", plan.max_t)
        ops.hmax(k.stats, "last_applied_ms", now_ms)

    def _wanted(self, changed: Sequence[str], states: dict[str, _ConvState],
                admitted: dict[str, set[str]]) -> dict[str, list[str]]:
        """Values of capped dimensions the batch brings that are not admitted yet (pure)."""
        wanted: dict[str, list[str]] = {}
        for cid in changed:
            dims = states[cid].dims(self._cfg)
            for d, members in admitted.items():
                if dims[d] not in members and dims[d] not in wanted.get(d, ()):
                    wanted.setdefault(d, []).append(dims[d])
        return wanted

    async def _admit(self, wanted: dict[str, list[str]]) -> dict[str, set[str]]:
        """Admit new values up to the cap, store-wide and atomically (its own script: the
        sets are shared by every partition, so they are outside the batch's slot)."""
        dims = sorted(wanted)
        keys = [self._keys.dimension_values(d) for d in dims]
        args: list[str | int] = [self._cfg.max_dimension_values,
                                 *(json.dumps(wanted[d]) for d in dims)]
        replies = await self._admit_script(keys=keys, args=args)
        return {d: set(json.loads(r) or []) for d, r in zip(dims, replies, strict=True)}

    def _overflow(self, changed: Sequence[str], states: dict[str, _ConvState],
                  admitted: dict[str, set[str]], stats: Counter[str]) -> None:
        """Count the events of values beyond the cap: they are exported as other."""
        for cid in changed:
            dims = states[cid].dims(self._cfg)
            for d, members in admitted.items():
                if dims[d] not in members:
                    stats[f"overflow:{d}"] += states[cid].new_count

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
                                     tuple(st.events), frozenset(st.ids), st.folded, now_ms)
            self._views.move_to_end(cid)
        expired_before = now_ms - self._cfg.conversation_ttl_ms
        while self._views and (len(self._views) > VIEW_CACHE
                               or next(iter(self._views.values())).written_ms < expired_before):
            self._views.popitem(last=False)

    def _undo_live(self, k: Keys, cid: str, entry: str, ops: _Ops) -> None:
        """Queue the undoing of an expired conversation's live-gauge count (``entry`` as
        read from the live-dims hash, "" when it had none)."""
        undo = []
        if entry:
            is_open, waiting, dimkeys, *more = json.loads(entry)
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

    def _gauge_ops(self, k: Keys, cid: str, before: kpi.LiveState | None, after: kpi.LiveState,
                   admitted: dict[str, set[str]], ops: _Ops, now_ms: int) -> None:
        """Move the conversation's live-gauge count from ``before`` to ``after``, and keep
        its live entry (activity time and what it counts) so expiry can undo it."""
        sets = self._cfg.gauge_dimension_sets
        adims = kpi.cap_dims(dict(after.dims), admitted)
        dimkeys = [kpi.dimension_key(adims, ds) for ds in sets]
        # every conversation with state is tracked (the state's TTL restarts with this
        # write; so does its entry), so that expiry can undo what it counts
        ops.zadd(k.live, now_ms, cid)
        ops.hset(k.live_dims, cid, _live_entry(after, dimkeys))
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
            if known not in self._known_gauge_dims and known not in ops.new_gauge_dims:
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

    async def _eval(self, keys: list[str], args: list[str | int | bytes]) -> tuple[str, str]:
        """("ok", "") or what moved: ("epoch" | "offset" | "conversation", detail)."""
        res = await self._script(keys=keys, args=args)
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
            if (plan.ewm is not None and e.t_ms < plan.ewm - lateness) or (
                    st.folded is not None and e.sort_key() <= st.folded.boundary):
                # older than the watermark allows, or than a long conversation's folded part
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
