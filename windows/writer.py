"""Thin async I/O layer that applies one partition's batch to Redis.

Read (one pipelined round trip) → compute with the pure functions of
:mod:`kpi.conversation` → write with one atomic Lua script (second round trip). If the
script reports that a watermark or conversation moved in between, the whole batch is
recomputed from a fresh read: correctness never depends on there being one writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

import redis.asyncio as aioredis
from redis.exceptions import (  # type: ignore[attr-defined]  # the stubs lack OutOfMemoryError
    BusyLoadingError,
    ClusterError,
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

from kpi.config import KpiConfig
from windows.errors import StoreConflict, StoreReset, StoreRewound, StoreUnavailable
from windows.keys import Keys
from windows.plan import (
    EXPIRED_PER_BATCH,
    VIEW_CACHE,
    ApplyResult,
    BatchContext,
    Record,
    Snapshot,
    Views,
    as_text,
    build_batch,
    first_seen_updates,
    plan_records,
    read_states,
    remember,
    wanted_values,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
# How long after the state's TTL an expired conversation's live-gauge count becomes a
# candidate for undoing (plan.EXPIRED_PER_BATCH per batch; the script also checks the state
# key is really gone, so this only saves re-reads).
EXPIRY_GRACE_MS = 1_000
# Re-reads (seconds apart) before a watermark below what this worker applied counts as a
# rewind: a read during a failover can be a moment stale (see _confirm_rewound).
REWIND_RECHECKS_S = (0.2, 0.5, 1.0, 2.0)


# The store's layout, the first part of every epoch: a store of another layout (an epoch
# without it) is not read but rebuilt, in a new epoch (2: conversations as one string
# "<version>|<compact state>" instead of a hash; 3: each stored label value's first-seen
# time, which decides the values shown under their own label; 2026-12)
LAYOUT = "L3."


def load_lua(name: str) -> str:
    return resources.files("windows").joinpath("lua", name).read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class StoreOpening:
    """What a worker found when it opened the store for its assigned partitions."""

    epoch: str
    created: bool  # no epoch existed: Redis is new, was flushed or lost its data
    last_offsets: list[int | None]
    lost: tuple[str, ...] = ()  # partitions of this epoch whose slot lost its data


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
    if isinstance(exc, TryAgainError | ExecAbortError | NoScriptError | ClusterError):
        # NOSCRIPT: a replica promoted by a failover lacks the scripts, and redis-py's own
        # reload went to the nodes it knew before it; the next try loads them there.
        # ClusterError: redis-py followed MOVED/ASK redirections of a reshard until its
        # budget ran out ("TTL exhausted"); the slots settle and the next try lands
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
def store_call() -> Iterator[None]:
    """Turn redis-py's errors about the store's state into :class:`StoreUnavailable`."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError, ResponseError) as exc:
        mapped = store_state_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


def _int_or_none(raw: bytes | str | None) -> int | None:
    return int(raw) if raw not in (None, b"", "") else None


def _offsets(raws: Sequence[bytes | str | None]) -> list[int | None]:
    """HMGET replies of the offsets hash: last applied offset, None when none is stored."""
    return [_int_or_none(r) for r in raws]


class WindowWriter:
    """Applies batches; one instance per worker, shared by its agents."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        cfg: KpiConfig,
        clock: Callable[[], float],
        view_cache: int = VIEW_CACHE,
        emit: Callable[[Sequence[tuple[str, bytes]]], Awaitable[None]] | None = None,
    ) -> None:
        self._redis = client
        # writes a batch's customer contacts (key, value) outside the store and returns once
        # they are safe: before the script, so a crash can repeat them, never lose them
        self._emit = emit
        self._view_cache = view_cache  # conversations whose computed view it keeps
        self._keys = keys
        self._cfg = cfg
        self._clock = clock
        self._epoch: str | None = None  # the store incarnation this writer writes into
        self._claimed: set[str] = set()  # partitions whose slot carries that epoch
        self._script = client.register_script(load_lua("apply_batch.lua"))
        self._admit_script = client.register_script(load_lua("admit_values.lua"))
        self._first_script = client.register_script(load_lua("first_seen.lua"))
        self._read_script = client.register_script(load_lua("read_batch.lua"))
        self.script_calls = 0
        self._known_gauge_dims: set[tuple[str, str]] = set()  # (partition, dimension key)
        # the admitted values of the capped dimensions, read once per epoch: within one they
        # only grow, and a value admitted by another worker since is simply asked for again
        # (the admission script answers with it)
        self._admitted: dict[str, set[str]] | None = None
        # each stored value's earliest first event time, as the store holds it (read with
        # the admitted values; a value reported earlier by another worker is just sent
        # again, and the minimum stays)
        self._first: dict[str, dict[str, int]] = {}
        # partition field → the last offset this worker applied there, in this epoch: a
        # store watermark below it means the store went back in time
        self._applied: dict[str, int] = {}
        # conversation id -> what it was after our last write (LRU)
        self._views: Views = OrderedDict()
        # (reason, detail) while the store must not be written (windows.guard: it evicts)
        self._refusal: tuple[str, str] | None = None

    def refuse(self, refusal: tuple[str, str] | None) -> None:
        """Refuse every batch and opening with ``StoreUnavailable(detail, reason)`` until
        called with None (:class:`windows.guard.EvictionGuard`)."""
        self._refusal = refusal

    def applied_offsets(self) -> tuple[str | None, dict[str, int]]:
        """The epoch this writer writes into and the last offset it applied per partition
        field, in that epoch (what it marks outside the store, streams.marks)."""
        return self._epoch, dict(self._applied)

    @property
    def refusal(self) -> tuple[str, str] | None:
        return self._refusal

    def _check_refused(self) -> None:
        if self._refusal is not None:
            reason, detail = self._refusal
            raise StoreUnavailable(detail, reason=reason)

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
        with store_call():
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
        self._check_refused()
        fields = [Keys.partition_field(t, p) for t, p in partitions]
        candidate = f"{LAYOUT}{int(self._clock())}-{uuid.uuid4().hex[:8]}"
        shared = self._keys
        with store_call():
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(shared.epoch)  # a read: a full (OOM) or read-only store still opens
            for f in fields:
                pipe.hget(shared.partitions, f)
                pipe.get(self._keys.of(f).epoch)
                pipe.hget(self._keys.of(f).offsets, f)
            res = await pipe.execute()
            created = False
            if res[0] is not None and not as_text(res[0]).startswith(LAYOUT):
                log.warning("the store %s was written by an earlier version (epoch %s, "
                            "conversation states in another layout): starting a new epoch; "
                            "its partitions are rebuilt from the replay point",
                            self._keys.prefix, as_text(res[0]))
                await self._redis.delete(shared.epoch)
                res[0] = None
            if res[0] is None:  # none yet: create it, unless another worker just did
                res[0] = await self._redis.set(shared.epoch, candidate, nx=True, get=True)
                created = res[0] is None
        epoch = candidate if created else as_text(res[0])
        self._adopt(epoch)
        lasts: list[int | None] = []
        lost: list[str] = []
        rebuilt: set[str] = set()  # slots emptied and claimed by this opening
        for i, f in enumerate(fields):
            reg_raw, copy_raw, last_raw = res[1 + 3 * i: 4 + 3 * i]
            registered, last = as_text(reg_raw) if reg_raw else "", _int_or_none(last_raw)
            copy, slot = as_text(copy_raw) if copy_raw else "", self._keys.of(f).tag
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
            self._admitted = None
            self._first = {}
            self._applied.clear()
            self._claimed.clear()
            self._epoch = epoch

    async def _claim(self, pfield: str, epoch: str) -> None:
        """Mark the partition's slot as written in ``epoch``, then register it (two slots,
        so two calls: a crash in between leaves a copy, and the next opening registers)."""
        k = self._keys.of(pfield)
        with store_call():
            found: bytes | str | None = await self._redis.set(  # type: ignore[assignment]
                k.epoch, epoch, nx=True, get=True)  # GET: the old value, None when set
            if found is not None and as_text(found) != epoch:
                raise self._reset(as_text(found), f"partition {pfield}")
            await self._redis.hset(self._keys.partitions, pfield, epoch)

    async def _wipe(self, pfield: str, copy: str) -> None:
        """Delete what a partition holds from an earlier incarnation (every key of its
        slot), so that rebuilding it does not count on top of leftovers."""
        k = self._keys.of(pfield)
        log.warning("partition %s holds data of %s, not of epoch %s: deleting it before "
                    "rebuilding", pfield, f"epoch {copy!r}" if copy else "no epoch",
                    self._epoch)
        with store_call():
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
        with store_call():
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(self._keys.epoch)
            for key, _f in slots:
                pipe.get(key)
            found = [as_text(r) if r else "" for r in await pipe.execute()]
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
        with store_call():
            pipe = self._redis.pipeline(transaction=False)
            pipe.hincrby(stats, f"rewind:{pfield}", 1)
            pipe.hincrby(stats, f"rewound:{pfield}", max(0, offsets))
            await pipe.execute()

    async def describe_store(self, epoch: str, replay_from: str, lost_before_ms: int,
                             lost_ranges: str = "") -> None:
        """Record where this epoch's data starts, for the exporter's completeness gauges
        (and which offset ranges it lacks, when Kafka no longer had them)."""
        with store_call():
            await self._redis.hset(self._keys.store_info, mapping={
                "epoch": epoch, "created_ms": int(self._clock() * 1000),
                "replay_from": replay_from, "lost_before_ms": lost_before_ms,
                "lost_ranges": lost_ranges})

    async def apply(self, topic: str, partition: int, records: Sequence[Record]) -> ApplyResult:
        """Apply records (in offset order) exactly once; retries on concurrent change.

        A partition not opened by :meth:`open_store` is opened here; one that lost its data
        cannot be rebuilt from inside a batch, so that raises :class:`StoreReset`."""
        self._check_refused()
        pfield = Keys.partition_field(topic, partition)
        with store_call():
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
        return self._cfg.capped_dimensions

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
            plan = plan_records(records, snap.states, snap.last, snap.ewm,
                                self._cfg.allowed_lateness_ms, topic)
            if plan.new_last is None:
                return plan.result  # everything was at or below the watermark
            changed = [cid for cid, st in snap.states.items() if st.changed]
            wanted = wanted_values(changed, snap.states, snap.admitted, self._cfg)
            if wanted:
                for d, granted in (await self._admit(wanted)).items():
                    new = sorted(granted - snap.admitted[d])
                    if new:
                        log.info("new %s values admitted: %s", d, new)
                    snap.admitted[d] |= granted
            firsts = first_seen_updates(changed, snap.states, snap.admitted, self._first,
                                        self._cfg)
            if firsts:
                await self._record_first_seen(firsts)
            assert self._epoch is not None
            ctx = BatchContext(self._cfg, pfield, self._epoch, self._views,
                               self._known_gauge_dims)
            batch = build_batch(ctx, self._keys.of(pfield), snap, plan)
            if batch.facts and self._emit is not None:
                await self._emit(batch.facts)
            outcome = await self._eval(batch.keys, batch.args)
            self.script_calls += 1
            if outcome[0] == "epoch":
                raise self._reset(outcome[1], f"partition {pfield}")
            if outcome[0] == "ok":
                self._known_gauge_dims |= batch.new_gauge_dims
                remember(self._views, snap.states, batch.views, snap.now_ms,
                         self._cfg.conversation_ttl_ms, self._view_cache)
                self._applied[pfield] = max(self._applied.get(pfield, -1), plan.new_last)
                return plan.result
            for cid in cids:  # someone else wrote (or our cache was stale): read fresh
                self._views.pop(cid, None)
            log.info("batch for %s conflicted (attempt %d); re-reading", pfield, attempt)
        raise StoreConflict(f"{pfield}: gave up after {MAX_ATTEMPTS} conflicting attempts")

    async def _read(self, pfield: str, cids: Sequence[str]) -> Snapshot:
        """Everything a batch depends on, in one round trip (``read_batch.lua``; the admitted
        values of capped dimensions, once per epoch, in one more).

        A conversation this worker wrote last is not read at all: its cached events are
        assumed current and the script checks its version before writing. On a conflict
        the batch's cache entries are dropped and everything is read fresh."""
        if self._admitted is None:
            capped = self._capped_dimensions()
            pipe = self._redis.pipeline(transaction=False)
            for d in capped:
                pipe.smembers(self._keys.dimension_values(d))
                pipe.hgetall(self._keys.first_seen(d))
            replies = await pipe.execute()
            read = {d: {as_text(v) for v in replies[2 * i]} for i, d in enumerate(capped)}
            first = {d: {as_text(v): int(t) for v, t in replies[2 * i + 1].items()}
                     for i, d in enumerate(capped)}
            if self._admitted is None:  # (a batch of another partition may have read it since)
                self._admitted, self._first = read, first
        cached = {cid: self._views[cid] for cid in cids if cid in self._views}
        uncached = [cid for cid in cids if cid not in cached]
        now_ms = int(self._clock() * 1000)
        k = self._keys.of(pfield)
        epoch_raw, last_raw, ewm_raw, conv_raw, live_raw, expired_raw = await self._read_script(
            keys=[k.epoch, k.offsets, k.event_watermarks, k.live, k.live_dims,
                  *(k.conversation(cid) for cid in uncached)],
            args=[pfield, now_ms - self._cfg.conversation_ttl_ms - EXPIRY_GRACE_MS,
                  EXPIRED_PER_BATCH, *uncached])
        states, stale = read_states(cached, uncached, conv_raw, live_raw, expired_raw)
        return Snapshot(as_text(epoch_raw) if epoch_raw else "", _int_or_none(last_raw),
                        _int_or_none(ewm_raw), self._admitted, states, stale, now_ms)

    async def _admit(self, wanted: dict[str, list[str]]) -> dict[str, set[str]]:
        """Admit new values up to the cap, store-wide and atomically (its own script: the
        sets are shared by every partition, so they are outside the batch's slot)."""
        dims = sorted(wanted)
        keys = [self._keys.dimension_values(d) for d in dims]
        args: list[str | int] = [self._cfg.stored_values_cap,
                                 *(json.dumps(wanted[d]) for d in dims)]
        replies = await self._admit_script(keys=keys, args=args)
        return {d: set(json.loads(r) or []) for d, r in zip(dims, replies, strict=True)}

    async def _record_first_seen(self, firsts: dict[str, dict[str, int]]) -> None:
        """Lower the store's first-seen times (a minimum, store-wide and atomic) and
        remember what it holds now."""
        dims = sorted(firsts)
        replies = await self._first_script(
            keys=[self._keys.first_seen(d) for d in dims],
            args=[json.dumps({v: str(t) for v, t in firsts[d].items()}) for d in dims])
        for d, r in zip(dims, replies, strict=True):
            stored = json.loads(r) or {}
            self._first.setdefault(d, {}).update({v: int(t) for v, t in stored.items()})

    async def _eval(self, keys: list[str], args: list[str | int | bytes]) -> tuple[str, str]:
        """("ok", "") or what moved: ("epoch" | "offset" | "conversation", detail)."""
        res = await self._script(keys=keys, args=args)
        if int(res[0]) == 1:
            return ("ok", "")
        detail = res[2]
        return (as_text(res[1]),
                as_text(detail) if isinstance(detail, (bytes, str)) else str(detail))
