"""Read side: a rolling window is the sum of the buckets covering it, read at call time.

Synchronous on purpose: it runs in the Prometheus exposition thread and the ``query``
CLI, never on the worker's event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import redis

from kpi import span
from kpi.calendar import business_ms
from kpi.config import KpiConfig, WindowSpec
from kpi.dims import admitted_values, parse_dimension_key, relabel
from kpi.kinds import within_key
from kpi.policies import TARGET_NAMES
from kpi.rows import fold_live, fold_rows, merge_fields, roll_up, summarize
from windows.agents import AgentTimelines, AgentView, add_rows
from windows.keys import Keys


@dataclass(frozen=True)
class WindowSnapshot:
    """KPI values per dimension key for one window evaluated at ``at_ms``."""

    window: WindowSpec
    at_ms: int
    rows: Mapping[str, Mapping[str, float | None]]
    folded: int = 0  # dimension combinations folded into "other" by the series budget
    # the event times the rows count: [from_ms, to_ms) (see kpi.span); None: unknown
    from_ms: int | None = None
    to_ms: int | None = None


@dataclass(frozen=True)
class PipelineStats:
    counters: Mapping[str, int]
    offsets: Mapping[str, int]
    epoch: str | None
    store: Mapping[str, str] = field(default_factory=dict)  # the epoch's description
    unwritable: str = ""  # why Redis refuses writes now (read-only replica, out of memory)

    @property
    def lost_before_ms(self) -> int | None:
        """Event time before which the windows may lack events: 0 when nothing is
        missing, None when the store has no epoch (flushed, not rebuilt yet)."""
        if self.epoch is None:
            return None
        if self.store.get("epoch") != self.epoch:
            return 0  # described by no worker yet (a store older than descriptions)
        return int(self.store.get("lost_before_ms") or 0)

    def complete(self, window_ms: int, at_ms: int) -> bool:
        """Whether a window ending at ``at_ms`` can hold every event sent in it."""
        lost = self.lost_before_ms
        return lost is not None and (lost == 0 or at_ms - window_ms >= lost)

    def lost_ranges(self) -> list[tuple[str, int, int]]:
        """(partition, first, last) of the offsets the store lost that Kafka no longer held
        when it was rebuilt (``topic:partition offsets first..last``, streams.seek)."""
        if self.store.get("epoch") != self.epoch:
            return []
        out = []
        for part in (self.store.get("lost_ranges") or "").split(";"):
            field, _, span = part.strip().partition(" offsets ")
            first, _, last = span.partition("..")
            if field and first.isdigit() and last.isdigit():
                out.append((field, int(first), int(last)))
        return out


@dataclass(frozen=True)
class ReadTime:
    """When the read side reads: where windows end and what live ages are measured to.

    The *event clock* is the event-time watermark (the newest applied ``occurred_at``)
    carried forward at wall-clock speed since the batch that applied it: on a live floor it
    is the wall clock (a quiet night included: nothing applied, and the clock runs on), and
    during a replay, a backfill or a rebuild it is the time of the history being applied.
    The worker is *catching up* while the event clock trails the wall clock by more than
    the threshold: then live ages are measured against the event clock (never older than
    the history itself) and nothing pages.
    """

    now_ms: int  # the wall clock
    event_ms: int  # the event clock (now_ms when nothing was applied yet)
    catching_up: bool
    event_windows: bool  # SUPPORT_READ_CLOCK=event: windows end at the event clock
    low_ms: int | None = None  # the slowest input's event clock (see low_watermark)

    @property
    def window_end_ms(self) -> int:
        return self.event_ms if self.event_windows else self.now_ms

    @property
    def live_ms(self) -> int:
        """What live ages are measured to: on the event clock, the slowest input's, so a
        conversation whose reply the worker has not reached yet is not aged by the
        inputs it has (at 240x, 5 s of lag between partitions is 20 minutes)."""
        if not (self.event_windows or self.catching_up):
            return self.now_ms
        return self.event_ms if self.low_ms is None else min(self.event_ms, self.low_ms)


# an input not applied for this long is idle, not behind: it does not hold the clock back
ACTIVE_INPUT_MS = 10_000


def low_watermark(now_ms: int, inputs: Mapping[str, tuple[int, int]],
                  active_ms: int = ACTIVE_INPUT_MS) -> int | None:
    """The event clock of the input (topic partition) furthest behind among those being
    applied, from each one's (newest event ms, last applied wall ms); None when none is
    (pure). Each input's clock runs on at wall-clock speed since its last batch, like the
    store's."""
    clocks = [min(now_ms, event + max(0, now_ms - applied))
              for event, applied in inputs.values() if now_ms - applied <= active_ms]
    return min(clocks) if clocks else None


def read_time(now_ms: int, last_event_ms: int | None, last_applied_ms: int | None,
              catch_up_ms: int, event_windows: bool = False,
              low_ms: int | None = None) -> ReadTime:
    """The read time from the stats the batch script writes (pure)."""
    event_ms = now_ms
    if last_event_ms is not None and last_applied_ms is not None:
        event_ms = min(now_ms, last_event_ms + max(0, now_ms - last_applied_ms))
    return ReadTime(now_ms, event_ms, now_ms - event_ms > catch_up_ms, event_windows, low_ms)


def unwritable(memory: Mapping[str, object], replication: Mapping[str, object]) -> str:
    """Why a Redis that answers reads would refuse the batch script's writes ("" if not):
    a read-only replica (a failover in progress), or full memory under ``noeviction``."""
    if replication.get("role") not in (None, "master"):
        return "read-only replica"
    limit = int(memory.get("maxmemory", 0) or 0)  # type: ignore[call-overload]
    used = int(memory.get("used_memory", 0) or 0)  # type: ignore[call-overload]
    if limit and used >= limit and memory.get("maxmemory_policy") == "noeviction":
        return f"out of memory ({used} of {limit} bytes, noeviction)"
    policy = memory.get("maxmemory_policy")
    if policy not in (None, "noeviction"):
        return f"maxmemory-policy {policy} evicts the store's keys (windows.guard)"
    return ""


def _dec(x: bytes | str) -> str:
    return x.decode() if isinstance(x, bytes) else x


# counters that are maxima, not sums, when the partitions' stats are merged
_MAXIMA = ("last_event_ms", "last_applied_ms")


def merge_stats(per_partition: Sequence[Mapping[str, int]]) -> dict[str, int]:
    """The store's counters from its partitions' (pure): sums, and the newest times."""
    out: dict[str, int] = {}
    for counters in per_partition:
        for k, v in counters.items():
            out[k] = max(out.get(k, v), v) if k in _MAXIMA else out.get(k, 0) + v
    return out


def _inputs(ewms: Sequence[Mapping[bytes, bytes]], applied: Sequence[Mapping[bytes, bytes]]
            ) -> dict[str, tuple[int, int]]:
    """Each input's (newest event ms, last applied ms), from the partitions' hashes."""
    out: dict[str, tuple[int, int]] = {}
    for events, times in zip(ewms, applied, strict=True):
        for f, at in times.items():
            if f in events:
                out[_dec(f)] = (int(events[f]), int(at))
    return out


class WindowReader:
    """Reads the store merged over its partitions (each partition holds its own buckets,
    gauges and counters in its own slot; see :mod:`windows.keys`)."""

    def __init__(self, client: redis.Redis, keys: Keys, cfg: KpiConfig,
                 clock: Callable[[], float] = time.time, *, catch_up_ms: int = 600_000,
                 event_windows: bool = False, max_rows: int | None = None) -> None:
        self._redis = client
        self._keys = keys
        self._cfg = cfg
        self._clock = clock
        self._catch_up_ms = catch_up_ms
        self._event_windows = event_windows
        self._max_rows = max_rows  # per window and for the live rows: the series budget
        self._agents = AgentTimelines()  # re-read and re-evaluated only when written
        self.reads = 0

    def partitions(self) -> list[Keys]:
        """The keys of every partition number written in the store's current epoch."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(self._keys.epoch)
        pipe.hgetall(self._keys.partitions)
        epoch, parts = pipe.execute()
        self.reads += 2
        if epoch is None:
            return []
        scopes = {self._keys.of(_dec(f)) for f, e in parts.items() if e == epoch}
        return sorted(scopes, key=lambda k: int(k.partition))

    def read_time(self, stats: PipelineStats | None = None) -> ReadTime:
        """Now, by the read clock (two small round trips; the stats, when given, save
        reading the counters again). The slowest input's clock is read either way: every
        reader of live ages (the wall, /metrics, the alerts) must age them alike."""
        now_ms = int(self._clock() * 1000)
        pipe = self._redis.pipeline(transaction=False)
        for k in self.partitions():
            if stats is None:
                pipe.hmget(k.stats, *_MAXIMA)
            pipe.hgetall(k.event_watermarks)
            pipe.hgetall(k.applied_at)
        replies = pipe.execute()
        self.reads += len(replies)
        step = 3 if stats is None else 2
        low_ms = low_watermark(now_ms, _inputs(replies[step - 2::step],
                                               replies[step - 1::step]))
        if stats is None:
            counters = merge_stats([dict(zip(_MAXIMA, map(int, raw), strict=True))
                                    for raw in replies[0::3] if None not in raw])
        else:
            counters = dict(stats.counters)
        return read_time(now_ms, counters.get("last_event_ms"),
                         counters.get("last_applied_ms"), self._catch_up_ms,
                         self._event_windows, low_ms)

    @property
    def config(self) -> KpiConfig:
        return self._cfg

    @property
    def client(self) -> redis.Redis:
        return self._redis

    def newest_event_ms(self, parts: Sequence[Keys] | None = None) -> int | None:
        """The newest event time applied to the store (None when empty)."""
        pipe = self._redis.pipeline(transaction=False)
        for k in self.partitions() if parts is None else parts:
            pipe.hget(k.stats, "last_event_ms")
        replies = [int(v) for v in pipe.execute() if v is not None]
        self.reads += len(replies)
        return max(replies) if replies else None

    def raw_window(self, window: WindowSpec, at_ms: int, newest_ms: int | None = None,
                   admitted: Mapping[str, set[str]] | None = None
                   ) -> tuple[dict[str, dict[str, int]], int, int]:
        """Bucket fields per dimension key over ``[at_ms − length, at_ms)``, merged over
        buckets and partitions, and the event times they cover (``kpi.span``)."""
        parts = self.partitions()
        if newest_ms is None:
            newest_ms = self.newest_event_ms(parts)
        plan = span.plan(window.length_ms, window.bucket_ms, at_ms, self._cfg.resolutions_ms,
                         end_open=newest_ms is None or newest_ms < at_ms)
        wanted = plan.buckets()
        pipe = self._redis.pipeline(transaction=False)
        for k in parts:
            for res, start in wanted:
                pipe.hgetall(k.bucket(res, start))
        replies = iter(pipe.execute())
        self.reads += len(parts) * len(wanted)
        data = [{b: {_dec(f): int(v) for f, v in next(replies).items()} for b in wanted}
                for _ in parts]
        hashes, lo, hi = span.assemble(plan, data)
        if admitted is None:
            admitted = self.admitted()
        return roll_up(merge_fields(hashes), self._cfg.dimension_sets, admitted), lo, hi

    def admitted(self) -> dict[str, set[str]]:
        """Per capped dimension, the values shown under their own label: the
        ``max_dimension_values`` with the earliest first event time (the rest, and values
        the store's guard stored as ``other``, read as ``other``)."""
        dims = self._cfg.capped_dimensions
        pipe = self._redis.pipeline(transaction=False)
        for d in dims:
            pipe.hgetall(self._keys.first_seen(d))
        replies = pipe.execute()
        self.reads += len(replies)
        return {d: admitted_values({_dec(v): int(t) for v, t in r.items()},
                                   self._cfg.max_dimension_values)
                for d, r in zip(dims, replies, strict=True)}

    def agents(self, at_ms: int, parts: Sequence[Keys] | None = None) -> AgentView:
        """Every agent's recent events, as of ``at_ms`` (kpi.agents: evaluated here)."""
        parts = self.partitions() if parts is None else parts
        timelines = self._agents.read(self._redis, parts, at_ms, self._cfg.conversation_ttl_ms)
        self.reads += 3
        return AgentView(self._cfg, timelines)

    def window(self, window: WindowSpec, at_ms: int, newest_ms: int | None = None,
               admitted: Mapping[str, set[str]] | None = None,
               agents: AgentView | None = None) -> WindowSnapshot:
        raw_all, lo, hi = self.raw_window(window, at_ms, newest_ms, admitted)
        agents = self.agents(at_ms) if agents is None else agents
        if agents:
            add_rows(raw_all, agents.fields(at_ms - window.length_ms, at_ms, at_ms),
                     admitted if admitted is not None else self.admitted(),
                     self._cfg.max_dimension_values)
        # a dimension key whose fields all went back to zero (a retraction, a conversation
        # that changed labels) holds nothing: it is not a row
        raw = {dk: f for dk, f in raw_all.items() if any(f.values())}
        folded = 0
        if self._max_rows is not None and len(raw) > self._max_rows:
            raw, folded = fold_rows(raw, self._max_rows)
        rows = {dk: summarize(fields) for dk, fields in raw.items()}
        return WindowSnapshot(window=window, at_ms=at_ms, rows=rows, folded=folded,
                              from_ms=lo, to_ms=hi)

    def all_windows(self, at_ms: int) -> list[WindowSnapshot]:
        newest, admitted = self.newest_event_ms(), self.admitted()
        agents = self.agents(at_ms)
        return [self.window(w, at_ms, newest, admitted, agents) for w in self._cfg.windows]

    def gauges(self, at_ms: int, *, own_clocks: bool = False
               ) -> dict[str, dict[str, float | None]]:
        return self.live(at_ms, own_clocks=own_clocks)[0]

    def live(self, at_ms: int, *, own_clocks: bool = False
             ) -> tuple[dict[str, dict[str, float | None]], int]:
        """Live queue gauges per gauge dimension key, as of ``at_ms`` for ages and breaches,
        merged over the partitions, within the series budget (and how many rows it folded
        into "other").

        A live dimension key (a conversation with state carries its labels) has a row even
        when its queue is empty: 0 open, 0 waiting, 0 breaching and 0 s oldest waiting, so
        an empty queue reads 0, not "no data". ``own_clocks`` (``at_ms`` is the read
        clock's ``live_ms``): a wait that began after ``at_ms`` (its partition's input is
        ahead of the slowest one) is aged by its own partition's clock, never 0."""
        parts = self.partitions()
        admitted = self.admitted()
        dimkeys, known, opens, running = self._counts(parts, admitted)
        queues = self._queues(parts, dimkeys, at_ms, own_clocks, admitted)
        horizons = self._cfg.horizons
        out: dict[str, dict[str, float | None]] = {}
        for dk, (waiting, oldest_ms, age_ms, breaching, *at_risk) in sorted(queues.items()):
            if not opens.get(dk, 0) and not waiting and dk not in known:
                continue
            out[dk] = {
                "open": opens.get(dk, 0),
                "waiting": waiting,
                "oldest_waiting_seconds": age_ms / 1000.0 if waiting else 0.0,
                "breaching": breaching,
                "at_risk": at_risk[-1],
                **{within_key("at_risk", name): n
                   for (name, _), n in zip(horizons, at_risk, strict=True)},
                **{f"sla_running_{t}": running[t].get(dk, 0) for t in TARGET_NAMES},
                **self._business_oldest(dk, oldest_ms, at_ms),
            }
        self._add_agents(out, parts, at_ms, admitted)
        if self._max_rows is not None and len(out) > self._max_rows:
            return fold_live(out, self._max_rows)
        return out, 0

    def _add_agents(self, out: dict[str, dict[str, float | None]], parts: Sequence[Keys],
                    at_ms: int, admitted: Mapping[str, set[str]]) -> None:
        """The agent gauges and the staffing need, into the live rows (docs/kpis.md,
        "Agents and staffing"): the need reads the staffing window's created conversations
        per queue and its handle times."""
        agents = self.agents(at_ms, parts)
        if not agents:
            return
        gauges: dict[str, dict[str, int]] = {}
        add_rows(gauges, agents.gauges(at_ms), admitted, self._cfg.max_dimension_values)
        w = self._cfg.staffing_window
        raw, _, _ = self.raw_window(w, at_ms, None, admitted)
        # arrivals: the conversations offered to agents (entered the human queue)
        arrivals = {dk.split("=", 1)[1]: f.get("queue_in", 0) for dk, f in raw.items()
                    if dk.startswith("queue=") and "," not in dk}
        longer = [at_ms - x.length_ms for x in sorted(self._cfg.windows,
                                                      key=lambda x: x.length_ms)
                  if x.length_ms > w.length_ms]
        rows: dict[str, dict[str, float | None]] = {k: dict(v) for k, v in gauges.items()}
        for dk, st in agents.staffing(gauges, arrivals, at_ms - w.length_ms, at_ms,
                                      longer).items():
            rows.setdefault(dk, {}).update(st)
        for dk, row in rows.items():
            out.setdefault(dk, {}).update(row)

    def _counts(self, parts: Sequence[Keys], admitted: Mapping[str, set[str]]
                ) -> tuple[list[list[str]], set[str], dict[str, int], dict[str, dict[str, int]]]:
        """Each partition's gauge dimension keys (as stored); the keys with live
        conversations; the open and running-target counts per key, merged, the keys as
        shown (values outside ``admitted`` as ``other``)."""
        per = 3 + len(TARGET_NAMES)
        pipe = self._redis.pipeline(transaction=False)
        for k in parts:
            pipe.smembers(k.gauge_dims)
            pipe.hgetall(k.known_counts)
            pipe.hgetall(k.open_counts)
            for target in TARGET_NAMES:
                pipe.hgetall(k.running(target))
        first = pipe.execute()
        self.reads += len(first)
        dimkeys = [sorted(_dec(d) for d in first[per * i]) for i in range(len(parts))]
        known = {relabel(_dec(d), admitted) for i in range(len(parts))
                 for d, v in first[per * i + 1].items() if int(v) > 0}
        opens: dict[str, int] = {}
        running: dict[str, dict[str, int]] = {t: {} for t in TARGET_NAMES}
        for i in range(len(parts)):
            for d, v in first[per * i + 2].items():
                dk = relabel(_dec(d), admitted)
                opens[dk] = opens.get(dk, 0) + int(v)
            for j, target in enumerate(TARGET_NAMES):
                counts = running[target]
                for d, v in first[per * i + 3 + j].items():
                    dk = relabel(_dec(d), admitted)
                    counts[dk] = counts.get(dk, 0) + int(v)
        return dimkeys, known, opens, running

    def _queues(self, parts: Sequence[Keys], dimkeys: Sequence[Sequence[str]], at_ms: int,
                own_clocks: bool, admitted: Mapping[str, set[str]]) -> dict[str, list[float]]:
        """Dimension key → [waiting, oldest since ms, oldest age ms, breaching, at risk per
        horizon...], merged over the partitions."""
        horizons = self._cfg.horizons
        # history cannot page: a wait or a due time older than the live horizon (the
        # conversation TTL, which a live conversation's state outlives only by activity)
        # is from events history left open, not live work
        lo = at_ms - self._cfg.live_horizon_ms
        pipe = self._redis.pipeline(transaction=False)
        for k, dks in zip(parts, dimkeys, strict=True):
            for dk in dks:
                pipe.zcount(k.waiting(dk), lo, "+inf")
                pipe.zrangebyscore(k.waiting(dk), lo, "+inf", start=0, num=1, withscores=True)
                pipe.zcount(k.due(dk), lo, f"({at_ms}")
                for _, ms in horizons:
                    pipe.zcount(k.due(dk), at_ms, f"({at_ms + ms}")
        res = iter(pipe.execute())
        each = 3 + len(horizons)
        self.reads += each * sum(map(len, dimkeys))
        queues: dict[str, list[float]] = {}
        ahead: list[tuple[str, Keys, float]] = []  # waits that began after at_ms
        for k, dks in zip(parts, dimkeys, strict=True):
            for dk in dks:
                got = [next(res) for _ in range(each)]
                shown = relabel(dk, admitted)
                q = queues.setdefault(shown, [0, float("inf"), 0.0, *([0] * (each - 2))])
                q[0] += got[0]
                if got[1]:
                    since = got[1][0][1]
                    q[1] = min(q[1], since)
                    if since > at_ms and own_clocks:
                        ahead.append((shown, k, since))
                    q[2] = max(q[2], at_ms - since)
                for i in range(2, each):
                    q[i + 1] += got[i]
        if ahead:
            clocks = self._partition_clocks([k for _dk, k, _s in ahead])
            for dk, k, since in ahead:
                queues[dk][2] = max(queues[dk][2], clocks[k.partition] - since)
        return queues

    def _partition_clocks(self, parts: Sequence[Keys]) -> dict[str, int]:
        """Each partition's own event clock: its inputs' newest event times, carried on at
        wall-clock speed since each was applied; the furthest ahead (the input a wait on
        it came from has at least its own wait's start)."""
        unique = {k.partition: k for k in parts}
        pipe = self._redis.pipeline(transaction=False)
        for k in unique.values():
            pipe.hgetall(k.event_watermarks)
            pipe.hgetall(k.applied_at)
        replies = pipe.execute()
        self.reads += len(replies)
        now_ms = int(self._clock() * 1000)
        out = {}
        for i, partition in enumerate(unique):
            inputs = _inputs([replies[2 * i]], [replies[2 * i + 1]])
            out[partition] = max((min(now_ms, ev + max(0, now_ms - applied))
                                  for ev, applied in inputs.values()), default=0)
        return out

    def _business_oldest(self, dimkey: str, oldest_ms: float, at_ms: int) -> dict[str, float]:
        """The oldest wait in business hours, for a row of one queue with a calendar: the
        oldest by the clock is the oldest in business hours too (one calendar per row)."""
        queue = parse_dimension_key(dimkey).get("queue")
        cal = self._cfg.calendar_for(queue) if queue is not None else None
        if cal is None:
            return {}
        waited = business_ms(cal, int(oldest_ms), at_ms) if oldest_ms != float("inf") else 0
        return {"oldest_waiting_business_seconds": waited / 1000.0}

    def stats(self) -> PipelineStats:
        """Counters and watermarks merged over the partitions, the epoch and its
        description, and whether every node would take writes."""
        parts = self.partitions()
        pipe = self._redis.pipeline(transaction=False)
        for k in parts:
            pipe.hgetall(k.stats)
            pipe.hgetall(k.offsets)
        pipe.get(self._keys.epoch)
        pipe.hgetall(self._keys.store_info)
        res = pipe.execute()
        self.reads += len(res)
        epoch, store = res[-2], res[-1]
        offsets = {_dec(f): int(v) for h in res[1:-2:2] for f, v in h.items()}
        return PipelineStats(
            counters=merge_stats([{_dec(f): int(v) for f, v in h.items()}
                                  for h in res[0:-2:2]]),
            offsets=offsets,
            epoch=_dec(epoch) if epoch is not None else None,
            store={_dec(k): _dec(v) for k, v in store.items()},
            unwritable=self._unwritable(),
        )

    def _unwritable(self) -> str:
        """Why some node would refuse the batch script's writes ("" when none would)."""
        if isinstance(self._redis, redis.RedisCluster):
            return self._cluster_unwritable(self._redis)
        return unwritable(self._redis.info("memory"), self._redis.info("replication"))

    @staticmethod
    def _cluster_unwritable(client: redis.RedisCluster) -> str:
        """Every master's memory and role. A "master" that answers as a replica was failed
        over while this client sent it nothing: re-learn the topology and ask again."""
        for attempt in (1, 2):
            nodes = redis.RedisCluster.PRIMARIES
            memory = client.info("memory", target_nodes=nodes)
            replication = client.info("replication", target_nodes=nodes)
            if attempt == 1 and any(r.get("role") != "master" for r in replication.values()):
                client.nodes_manager.initialize()
                continue
            for node in sorted(memory):
                why = unwritable(memory[node], replication.get(node, {}))
                if why:
                    return f"{node}: {why}"
            return ""
        return ""
