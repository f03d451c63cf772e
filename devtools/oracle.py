"""Batch oracle: every windowed KPI and live gauge from a plain list of events.

Deliberately simple and independent of the stream: no Redis, no buckets of counters,
no histogram, no code shared with ``windows.kpi`` — only the event schema (validation)
and the configuration values. It re-derives each KPI from its definition in
docs/kpis.md with exact arithmetic (exact nearest-rank percentiles), so when the stream
and the oracle agree, they agree for independent reasons.

Stream semantics the oracle reproduces on purpose, because they decide which events
count: arrival order per Kafka topic and partition (default murmur2 partitioner on the
conversation id), the first copy of an ``event_id`` wins, an event older than its topic
partition's highest accepted time minus the allowed lateness is dropped as late, a
dimension admits its first ``max_dimension_values`` distinct values in arrival order and
labels the rest ``other`` (the stream admits per batch: a label a conversation carries
only in the middle of one batch is never admitted there, here it is, so histories that
fill the cap should give their labels on the first event), and a window's edges fall on
the finest bucket boundary (``[T − W, T)`` rounded inwards to it, the end left at ``T``
when nothing at or after ``T`` was accepted).

Business time (queues with a calendar) is counted here the way a person checks it: minute
by minute, each UTC minute looked up in the calendar's zone (local weekday, date, time of
day); the stream walks pieces of constant UTC offset instead (``windows.calendar``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

from kafka.partitioner.default import murmur2

from streams.errors import InvalidEvent
from streams.schema import SchemaConfig, validate
from windows.calendar import BusinessCalendar
from windows.catalog import within_key
from windows.config import KpiConfig, WindowSpec
from windows.events import Event

MINUTE = 60_000
BUSINESS_QUANTILES = (0.5, 0.9)

RANK = {"ticket.created": 0, "chat.started": 0, "ticket.assigned": 1, "chat.handoff": 2,
        "chat.transferred": 2, "ticket.escalated": 2, "ticket.message": 3, "chat.message": 3,
        "ticket.status_changed": 3, "ticket.solved": 4, "chat.ended": 4, "ticket.reopened": 5,
        "ticket.closed": 6}


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, positive, modulo)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass
class Accepted:
    events: list[Event] = field(default_factory=list)
    invalid: int = 0
    duplicates: int = 0
    late: int = 0
    admitted: dict[str, set[str]] = field(default_factory=dict)  # capped dimension → values


def _capped(cfg: KpiConfig) -> list[str]:
    sets = (*cfg.dimension_sets, *cfg.gauge_dimension_sets)
    return sorted({d for ds in sets for d in ds if d != "agent"})


def accept(messages: Iterable[tuple[str, int, bytes]], cfg: KpiConfig,
           schema: SchemaConfig | None = None,
           now_ms: Callable[[], int] = lambda: 2**62) -> Accepted:
    """Apply the stream's admission rules to ``(topic, partition, raw bytes)`` in arrival
    order. ``now_ms`` is the clock events from the future are judged by: the worker's is
    the real one (the default accepts any time, for histories placed anywhere)."""
    schema = schema or SchemaConfig()
    out = Accepted(admitted={d: set() for d in _capped(cfg)})
    seen: set[tuple[str, str]] = set()
    highest: dict[tuple[str, int], int] = {}
    so_far: dict[str, _Labels] = defaultdict(_Labels)
    for topic, partition, raw in messages:
        try:
            e = validate(raw, schema, now_ms)
        except InvalidEvent:
            out.invalid += 1
            continue
        if (e.conversation_id, e.event_id) in seen:
            out.duplicates += 1
            continue
        top = highest.get((topic, partition))
        if top is not None and e.t_ms < top - cfg.allowed_lateness_ms:
            out.late += 1
            continue
        highest[(topic, partition)] = e.t_ms if top is None else max(top, e.t_ms)
        seen.add((e.conversation_id, e.event_id))
        out.events.append(e)
        labels = so_far[e.conversation_id].add(e)
        for d, values in out.admitted.items():  # while the dimension has room
            if labels[d] not in values and len(values) < cfg.max_dimension_values:
                values.add(labels[d])
    return out


@dataclass
class _Labels:
    """A conversation's labels as its events arrive: the start event's value, else the
    earliest event's giving one (the same rule as :func:`_labels_of`, incrementally)."""

    start: tuple[tuple[int, int, str], Event] | None = None
    earliest: dict[str, tuple[tuple[int, int, str], str]] = field(default_factory=dict)

    def add(self, e: Event) -> dict[str, str]:
        key = (e.t_ms, RANK.get(e.type, 7), e.event_id)
        if e.type in ("ticket.created", "chat.started") and (
                self.start is None or key < self.start[0]):
            self.start = (key, e)
        for d in ("channel", "queue", "team", "priority"):
            v = getattr(e, d)
            if v and (d not in self.earliest or key < self.earliest[d][0]):
                self.earliest[d] = (key, v)
        start = self.start[1] if self.start else None
        return {d: (getattr(start, d) if start is not None else None)
                or (self.earliest[d][1] if d in self.earliest else "unknown")
                for d in ("channel", "queue", "team", "priority")}


# ------------------------------------------------------------------ per conversation


@dataclass
class Facts:
    """Measurements of one conversation, each with the event time it belongs to."""

    labels: dict[str, str]
    durations: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    live_open: bool = False
    waiting_since: int | None = None
    deadline: int | None = None
    running: tuple[str, ...] = ()  # SLA policy targets whose clocks run now


@lru_cache(maxsize=1_000_000)
def _open_minute(cal: BusinessCalendar, minute_ms: int) -> bool:
    local = dt.datetime.fromtimestamp(minute_ms / 1000, tz=ZoneInfo(cal.zone))
    of_day = local.hour * 60 + local.minute
    return local.date() not in cal.holidays and any(
        a <= of_day < b for a, b in cal.weekly[local.weekday()])


def _business(cal: BusinessCalendar | None, a: int, b: int) -> int:
    """Open time in [a, b), minute by minute (calendar time without a calendar)."""
    if cal is None:
        return max(0, b - a)
    total, m = 0, a - a % MINUTE
    while m < b:
        if _open_minute(cal, m):
            total += min(b, m + MINUTE) - max(a, m)
        m += MINUTE
    return total


def _due(cal: BusinessCalendar | None, a: int, target: int) -> int:
    """The instant ``target`` of open time has passed since ``a``."""
    if cal is None or target <= 0:
        return a + target
    left, m = target, a - a % MINUTE
    for _ in range(400 * 1440):
        if _open_minute(cal, m):
            have = m + MINUTE - max(a, m)
            if have >= left:
                return max(a, m) + left
            left -= have
        m += MINUTE
    return a + target


def _target(cfg: KpiConfig, priority: str, channel: str) -> int:
    targets = dict(cfg.frt_sla_targets)
    for k in ((priority, channel), (priority, "*"), ("*", channel), ("*", "*")):
        if k in targets:
            return targets[k]
    return cfg.frt_sla_ms


def _labels_of(evs: Sequence[Event], start: Event | None, first_human: Event | None,
               cfg: KpiConfig) -> dict[str, str]:
    labels = {}
    for dim in ("channel", "queue", "team", "priority"):
        candidates = ([start] if start else []) + list(evs)
        labels[dim] = next((getattr(e, dim) for e in candidates if getattr(e, dim)),
                           None) or "unknown"
    agent = "none"
    if cfg.agent_allowlist and first_human is not None:
        agent = first_human.agent_id if first_human.agent_id in cfg.agent_allowlist else "other"
    labels["agent"] = agent
    return labels


def facts_of(events: Sequence[Event], cfg: KpiConfig,
             admitted: dict[str, set[str]] | None = None) -> Facts:
    evs = sorted(events, key=lambda e: (e.t_ms, RANK.get(e.type, 7), e.event_id))
    start = next((e for e in evs if e.type in ("ticket.created", "chat.started")), None)

    def human(e: Event) -> bool:
        return e.type in ("ticket.message", "chat.message") and (
            e.actor == "agent" or (cfg.count_bot_replies and e.actor == "bot"))

    humans = [e for e in evs if human(e)]
    first_human = humans[0] if humans else None
    labels = _labels_of(evs, start, first_human, cfg)
    raw = dict(labels)  # before the cap: policies and calendars match the conversation's own
    target = _target(cfg, labels["priority"], labels["channel"])
    cal = cfg.calendars.for_queue(labels["queue"])  # the queue's own label, before any cap
    sla_cal = cal if cfg.calendars.sla_business else None
    for d, values in (admitted or {}).items():
        if labels[d] not in values:
            labels[d] = "other"
    f = Facts(labels=labels)
    cnt, dur = f.counts, f.durations

    if start:
        cnt["vol_created"].append((start.t_ms, 1))
        if first_human:
            frt = max(0, first_human.t_ms - start.t_ms)
            dur["frt"].append((first_human.t_ms, frt))
            if cal is not None:
                dur["frtb"].append((first_human.t_ms, _business(cal, start.t_ms,
                                                                first_human.t_ms)))
    oldest_unanswered = None
    for e in evs:
        if e.type in ("ticket.message", "chat.message") and e.actor == "customer":
            oldest_unanswered = oldest_unanswered if oldest_unanswered is not None else e.t_ms
        elif human(e) and oldest_unanswered is not None:
            dur["resp"].append((e.t_ms, max(0, e.t_ms - oldest_unanswered)))
            if cal is not None:
                dur["respb"].append((e.t_ms, _business(cal, oldest_unanswered, e.t_ms)))
            oldest_unanswered = None
    for e in evs:
        if e.type in ("ticket.solved", "chat.ended"):
            cnt["vol_solved"].append((e.t_ms, 1))
        if e.type == "ticket.reopened":
            cnt["vol_reopened"].append((e.t_ms, 1))
        if _escalates(e, cfg):
            cnt["vol_escalated"].append((e.t_ms, 1))

    handoff = next((e for e in evs if e.type == "chat.handoff"), None)
    entered = None
    if start is not None:
        if start.type == "ticket.created":
            entered = start.t_ms
        elif handoff is not None:
            entered = handoff.t_ms
        elif first_human is not None:
            entered = start.t_ms
    if entered is not None:
        cnt["queue_in"].append((entered, 1))
    _service_level_facts(f, evs, start, humans, entered, target, cfg, sla_cal)
    _done_facts(f, evs, start, humans, entered, cfg, cal)
    if start is not None and start.type == "chat.started":
        _chat_facts(f, start, handoff, humans)
    _survey_facts(f, evs, cfg)
    if start is not None:
        _live_facts(f, evs, humans, entered, cfg, sla_cal)
        _policy_facts(f, evs, start, humans, raw, cfg)
    return f


def _escalates(e: Event, cfg: KpiConfig) -> bool:
    if e.type == "chat.handoff":
        return cfg.escalation_includes_handoffs
    return e.type in ("ticket.escalated", "chat.transferred")


def _service_level_facts(f: Facts, evs: Sequence[Event], start: Event | None,
                         humans: Sequence[Event], entered: int | None, target: int,
                         cfg: KpiConfig, cal: BusinessCalendar | None) -> None:
    """(time, met) of the conversation's service-level sample, by the definition; waits
    in business time where the queue's SLA clock is a calendar."""
    how = cfg.service_level_definition
    sample: tuple[int, bool] | None = None
    if how == "first_response":
        if start is not None and humans:
            sample = (humans[0].t_ms, _business(cal, start.t_ms, humans[0].t_ms) <= target)
    elif entered is not None:
        done = next((e for e in evs if e.type in ("ticket.solved", "chat.ended")), None)
        if humans and humans[0].t_ms >= entered:
            wait = _business(cal, entered, humans[0].t_ms)
            sample = (humans[0].t_ms, wait <= target)  # answered
        elif not humans and done is not None and done.t_ms >= entered:
            wait = _business(cal, entered, done.t_ms)  # abandoned
            if how == "amazon_connect":  # left the queue within X, answered or not
                sample = (done.t_ms, wait <= target)
            elif done.t_ms - entered > cfg.short_abandon_ms:  # talkdesk: short abandons out
                sample = (done.t_ms, False)
    if sample is not None:
        f.counts["sla_n"].append((sample[0], 1))
        f.counts["sla_ok"].append((sample[0], int(sample[1])))


def _first_contact_resolved(how: str, evs: Sequence[Event], humans: Sequence[Event],
                            t: int, reopened: bool) -> bool:
    """FCR of a completed conversation a human replied to, by each documented source."""
    if how == "zendesk_one_touch":
        return len(humans) == 1
    if how == "intercom_one_teammate":
        return len({e.agent_id for e in humans}) == 1
    if how == "freshservice":
        first = humans[0]
        after_first = False
        for e in evs:
            if e is first:
                after_first = True
            elif (after_first and e.t_ms <= t and e.actor == "customer"
                  and e.type in ("ticket.message", "chat.message")):
                return False
        return True
    moved = any(e.type in ("ticket.escalated", "chat.transferred") and e.t_ms <= t
                for e in evs)
    return len(humans) == 1 and not moved and not reopened


def _done_facts(f: Facts, evs: Sequence[Event], start: Event | None, humans: Sequence[Event],
                entered: int | None, cfg: KpiConfig, cal: BusinessCalendar | None) -> None:
    done = next((e for e in evs if e.type in ("ticket.solved", "chat.ended")), None)
    if done is None:
        return
    cnt, dur = f.counts, f.durations
    t = done.t_ms
    cnt["done"].append((t, 1))
    if start:
        dur["res"].append((t, max(0, t - start.t_ms)))
        if cal is not None:
            dur["resb"].append((t, _business(cal, start.t_ms, t)))
    cnt["esc"].append((t, int(any(_escalates(e, cfg) and e.t_ms <= t for e in evs))))
    reopened = any(e.type == "ticket.reopened" and t <= e.t_ms <= t + cfg.reopen_window_ms
                   for e in evs)
    cnt["reopen"].append((t, int(reopened)))
    answered = [e for e in humans if e.t_ms <= t]
    if answered:
        cnt["fcr_d"].append((t, 1))
        ok = _first_contact_resolved(cfg.fcr_definition, evs, answered, t, reopened)
        cnt["fcr"].append((t, int(ok)))
    elif entered is not None and entered <= t:
        cnt["abandoned"].append((t, 1))
    if start is not None and start.type == "chat.started":
        cnt["chat_done"].append((t, 1))
        handed = any(e.type == "chat.handoff" and e.t_ms <= t for e in evs)
        cnt["contained"].append((t, int(not handed and not answered)))


def _chat_facts(f: Facts, start: Event, handoff: Event | None, humans: Sequence[Event]) -> None:
    cnt, dur = f.counts, f.durations
    cnt["chat_n"].append((start.t_ms, 1))
    if handoff is not None:
        cnt["handoff_n"].append((handoff.t_ms, 1))
        dur["bot"].append((handoff.t_ms, max(0, handoff.t_ms - start.t_ms)))
        after = next((e for e in humans if e.t_ms >= handoff.t_ms), None)
        if after is not None:
            dur["frah"].append((after.t_ms, after.t_ms - handoff.t_ms))


def _survey_facts(f: Facts, evs: Sequence[Event], cfg: KpiConfig) -> None:
    cnt = f.counts
    for e in evs:
        if e.score is None:
            continue
        if e.type == "survey.csat":
            cnt["csat"].append((e.t_ms, 1))
            cnt["csat_pos"].append((e.t_ms, int(e.score >= cfg.csat_satisfied_min)))
            cnt["csat_milli"].append((e.t_ms, round(e.score * 1000)))
        elif e.type == "survey.nps":
            cnt["nps"].append((e.t_ms, 1))
            cnt["nps_pro"].append((e.t_ms, int(e.score >= 9)))
            cnt["nps_det"].append((e.t_ms, int(e.score <= 6)))
        elif e.type == "survey.ces":
            cnt["ces"].append((e.t_ms, 1))
            cnt["ces_milli"].append((e.t_ms, round(e.score * 1000)))


def _live_facts(f: Facts, evs: Sequence[Event], humans: Sequence[Event], entered: int | None,
                cfg: KpiConfig, cal: BusinessCalendar | None) -> None:
    """Open unless the last completion/close is not followed by a reopen."""
    state_open = True
    for e in evs:
        if e.type in ("ticket.solved", "chat.ended", "ticket.closed"):
            state_open = False
        elif e.type == "ticket.reopened":
            state_open = True
    f.live_open = state_open
    if state_open and not humans and entered is not None:
        f.waiting_since = entered
        f.deadline = _due(cal, entered, _target(cfg, f.labels["priority"],
                                                f.labels["channel"]))


def _policy_facts(f: Facts, evs: Sequence[Event], start: Event, humans: Sequence[Event],
                  labels: dict[str, str], cfg: KpiConfig) -> None:
    """SLA policy targets, by walking the events as a state machine: between two events
    a target's clock runs unless the ticket is pending on the customer (from a status
    change to pending to the next status change, customer message, completion or
    reopen) or, for resolution, solved (from a completion to a reopen)."""
    policy = next((p for p in cfg.policies.policies
                   if all(labels[d] in values for d, values in p.match)), None)
    if policy is None:
        return
    targets = dict(policy.targets)
    cal = cfg.calendars.for_queue(labels["queue"]) if policy.business else None
    first = humans[0] if humans else None
    def sample(short: str, t: int, met: bool) -> None:
        f.counts[f"{short}_n"].append((t, 1))
        f.counts[f"{short}_met"].append((t, int(met)))

    if "first_reply" in targets and first is not None:
        sample("slfr", first.t_ms,
               _business(cal, start.t_ms, first.t_ms) <= targets["first_reply"])
    pending = solved = False
    wait_from: int | None = None  # a customer message waiting for a human reply
    wait_runs: list[tuple[int, int]] = []  # its running segments so far
    res_runs: list[tuple[int, int]] = []
    prev = evs[0].t_ms
    for e in evs:
        t = e.t_ms
        if t > prev and not pending:
            if wait_from is not None:
                wait_runs.append((max(prev, wait_from), t))
            if not solved and t > start.t_ms:
                res_runs.append((max(prev, start.t_ms), t))
        prev = t
        customer = e.type in ("ticket.message", "chat.message") and e.actor == "customer"
        if e.type == "ticket.status_changed":
            pending = e.status == "pending"
        elif customer or e.type in ("ticket.solved", "chat.ended", "ticket.reopened"):
            pending = False
        if e.type in ("ticket.solved", "chat.ended"):
            solved = True
        elif e.type == "ticket.reopened":
            solved = False
        if customer and wait_from is None:
            wait_from, wait_runs = e.t_ms, []
        elif e in humans and wait_from is not None:
            if "next_reply" in targets and first is not None and e.t_ms > first.t_ms:
                took = sum(_business(cal, a, b) for a, b in wait_runs)
                sample("slnr", e.t_ms, took <= targets["next_reply"])
            wait_from = None
    done = [e for e in evs if e.type in ("ticket.solved", "chat.ended")]
    if "resolution" in targets and not f.live_open and done:
        last = done[-1].t_ms
        took = sum(_business(cal, a, min(b, last)) for a, b in res_runs if a < last)
        sample("slres", last, took <= targets["resolution"])
    if f.live_open:
        _policy_deadlines(f, targets, cal, start, first, pending, wait_from, wait_runs,
                          res_runs, prev)


def _policy_deadlines(f: Facts, targets: dict[str, int], cal: BusinessCalendar | None,
                      start: Event, first: Event | None, pending: bool, wait_from: int | None,
                      wait_runs: list[tuple[int, int]], res_runs: list[tuple[int, int]],
                      last: int) -> None:
    """When each running target falls due: through its past running segments, then on
    from the last event (the clock runs now unless pending)."""
    def due(runs: list[tuple[int, int]], target: int, origin: int) -> int:
        left = target
        for a, b in runs:
            have = _business(cal, a, b)
            if have >= left:
                return _due(cal, a, left)
            left -= have
        return _due(cal, max(last, origin), left)

    dues: dict[str, int] = {}
    if "first_reply" in targets and first is None:
        dues["first_reply"] = _due(cal, start.t_ms, targets["first_reply"])
    if not pending:
        if "next_reply" in targets and first is not None and wait_from is not None \
                and wait_from > first.t_ms:
            dues["next_reply"] = due(wait_runs, targets["next_reply"], wait_from)
        if "resolution" in targets:
            dues["resolution"] = due(res_runs, targets["resolution"], start.t_ms)
    f.deadline = min(dues.values()) if dues else None
    f.running = tuple(dues)


# ------------------------------------------------------------------ windows


def finest_edge_ms(w: WindowSpec, cfg: KpiConfig) -> int:
    """The finest bucket size a window's edges fall on: the finest configured bucket size
    reached from the window's own by sizes that each divide the one before."""
    size = w.bucket_ms
    for r in sorted({v.bucket_ms for v in cfg.windows}, reverse=True):
        if r < size and size % r == 0:
            size = r
    return size


def window_range(w: WindowSpec, at_ms: int, cfg: KpiConfig,
                 newest_ms: int | None) -> tuple[int, int]:
    """[start, end) of the event times the window at ``at_ms`` covers: ``[T − W, T)``
    rounded inwards to the finest edge, the end left at T when nothing at or after T was
    accepted (``newest_ms``, the newest accepted event time)."""
    r = finest_edge_ms(w, cfg)
    lo = -(-(at_ms - w.length_ms) // r) * r
    hi = at_ms if newest_ms is None or newest_ms < at_ms else at_ms // r * r
    return lo, hi


def _wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson score interval (95%), as the roots of the score test's quadratic
    (p̂ − p)² = z² p (1 − p) / n in p."""
    z2 = 1.959963984540054 ** 2
    share = min(1.0, k / n)  # a window may count an abandon whose queue entry it does not
    a = 1 + z2 / n
    b = -(2 * share + z2 / n)
    c = share ** 2
    disc = math.sqrt(max(0.0, b * b - 4 * a * c))
    return max(0.0, (-b - disc) / (2 * a)), min(1.0, (-b + disc) / (2 * a))


def _nps_margin(pro: int, det: int, n: int) -> float | None:
    """1.96 standard errors of the mean of per-response scores +100, 0, −100."""
    if not n:
        return None
    scores = [100.0] * pro + [-100.0] * det + [0.0] * (n - pro - det)
    mean = sum(scores) / n
    var = sum((x - mean) ** 2 for x in scores) / n
    return 1.959963984540054 * math.sqrt(var / n)


def _nearest_rank(values: list[float], q: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    return xs[max(1, math.ceil(q * len(xs) - 1e-9)) - 1]


def _qname(q: float) -> str:
    return f"{q * 100:g}".replace(".", "_")


def _key(labels: dict[str, str], dims: Sequence[str]) -> str:
    return "*" if not dims else ",".join(f"{d}={labels[d]}" for d in dims)


def window_rows(facts: Iterable[Facts], lo: int, hi: int,
                cfg: KpiConfig) -> dict[str, dict[str, float | None]]:
    """Rows over the event times ``[lo, hi)``."""
    groups: dict[str, list[Facts]] = defaultdict(list)
    for f in facts:
        for dims in cfg.dimension_sets:
            groups[_key(f.labels, dims)].append(f)
    rows = {}
    for key, members in groups.items():
        ds: dict[str, list[int]] = defaultdict(list)
        cs: dict[str, int] = defaultdict(int)
        touched = False
        for f in members:
            for name, pts in f.durations.items():
                for t, ms in pts:
                    if lo <= t < hi:
                        ds[name].append(ms)
                        touched = True
            for name, pts in f.counts.items():
                for t, n in pts:
                    if lo <= t < hi:
                        cs[name] += n
                        touched = True
        if touched:
            rows[key] = _row(ds, cs, cfg)
    return rows


def _row(ds: dict[str, list[int]], cs: dict[str, int],
         cfg: KpiConfig) -> dict[str, float | None]:
    r: dict[str, float | None] = {}

    def div(a: float, b: float) -> float | None:
        return a / b if b > 0 else None

    def durations(prefix: str, name: str, qs: Sequence[float]) -> None:
        xs = ds.get(prefix, [])
        r[f"{name}_count"] = len(xs)
        r[f"{name}_sum_seconds"] = sum(xs) / 1000.0
        r[f"{name}_mean_seconds"] = sum(xs) / 1000.0 / len(xs) if xs else None
        for q in qs:
            r[f"{name}_p{_qname(q)}_seconds"] = _nearest_rank([x / 1000 for x in xs], q)

    def bounds(key: str, k: int, n: int) -> None:
        r[f"{key}_lower"], r[f"{key}_upper"] = _wilson(k, n) if n else (None, None)

    durations("frt", "frt", cfg.quantiles_frt)
    r["sla_samples"] = cs["sla_n"]
    r["frt_sla_ratio"] = div(cs["sla_ok"], cs["sla_n"])
    bounds("frt_sla_ratio", cs["sla_ok"], cs["sla_n"])
    durations("res", "resolution", cfg.quantiles_resolution)
    durations("resp", "response", cfg.quantiles_other)
    r["completed"] = cs["done"]
    r["fcr_eligible"] = cs["fcr_d"]
    r["fcr_resolved"] = cs["fcr"]
    r["fcr_ratio"] = div(cs["fcr"], cs["fcr_d"])
    bounds("fcr_ratio", cs["fcr"], cs["fcr_d"])
    r["escalated_completed"] = cs["esc"]
    r["escalation_ratio"] = div(cs["esc"], cs["done"])
    bounds("escalation_ratio", cs["esc"], cs["done"])
    r["reopened_completed"] = cs["reopen"]
    r["reopen_ratio"] = div(cs["reopen"], cs["done"])
    r["csat_responses"] = cs["csat"]
    r["csat_satisfied"] = cs["csat_pos"]
    r["csat_ratio"] = div(cs["csat_pos"], cs["csat"])
    bounds("csat_ratio", cs["csat_pos"], cs["csat"])
    r["csat_mean"] = cs["csat_milli"] / 1000.0 / cs["csat"] if cs["csat"] else None
    r["nps_responses"] = cs["nps"]
    r["nps_score"] = 100.0 * (cs["nps_pro"] - cs["nps_det"]) / cs["nps"] if cs["nps"] else None
    r["nps_score_margin"] = _nps_margin(cs["nps_pro"], cs["nps_det"], cs["nps"])
    r["ces_responses"] = cs["ces"]
    r["ces_mean"] = cs["ces_milli"] / 1000.0 / cs["ces"] if cs["ces"] else None
    for v in ("created", "solved", "reopened", "escalated"):
        r[f"volume_{v}"] = cs[f"vol_{v}"]
    r["queued"] = cs["queue_in"]
    r["abandoned"] = cs["abandoned"]
    r["abandonment_ratio"] = div(cs["abandoned"], cs["queue_in"])
    bounds("abandonment_ratio", cs["abandoned"], cs["queue_in"])
    r["chats_started"] = cs["chat_n"]
    r["handoffs"] = cs["handoff_n"]
    r["handoff_ratio"] = div(cs["handoff_n"], cs["chat_n"])
    r["chats_completed"] = cs["chat_done"]
    r["bot_contained"] = cs["contained"]
    r["bot_containment_ratio"] = div(cs["contained"], cs["chat_done"])
    durations("bot", "bot_time", cfg.quantiles_other)
    durations("frah", "frt_after_handoff", cfg.quantiles_other)
    durations("frtb", "frt_business", BUSINESS_QUANTILES)
    durations("resb", "resolution_business", BUSINESS_QUANTILES)
    durations("respb", "response_business", BUSINESS_QUANTILES)
    for name, short in (("first_reply", "slfr"), ("next_reply", "slnr"),
                        ("resolution", "slres")):
        n, met = cs[f"{short}_n"], cs[f"{short}_met"]
        r[f"sla_{name}_samples"] = n
        r[f"sla_{name}_met"] = met
        r[f"sla_{name}_breached"] = n - met
        r[f"sla_{name}_ratio"] = div(met, n)
        bounds(f"sla_{name}_ratio", met, n)
    return r


def gauge_rows(facts: Iterable[Facts], at_ms: int,
               cfg: KpiConfig) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    acc: dict[str, dict[str, list[int] | int]] = defaultdict(
        lambda: {"open": 0, "since": [], "deadlines": [], "first_reply": 0, "next_reply": 0,
                 "resolution": 0})
    queue_of: dict[str, str] = {}  # a row with a queue label: its queue's calendar
    for f in facts:
        for dims in cfg.gauge_dimension_sets:
            key = _key(f.labels, dims)
            a = acc[key]
            if "queue" in dims:
                queue_of[key] = f.labels["queue"]
            if f.live_open:
                a["open"] += 1  # type: ignore[operator]
            for target in f.running:
                a[target] += 1  # type: ignore[operator]
            if f.waiting_since is not None:
                a["since"].append(f.waiting_since)  # type: ignore[union-attr]
            if f.deadline is not None:
                a["deadlines"].append(f.deadline)  # type: ignore[union-attr]
    # Every dimension key with a conversation is live: the oracle is compared right after a
    # replay, when every conversation was written within the conversation TTL. An empty
    # queue of a live key reads 0 everywhere.
    for key, a in acc.items():
        since: list[int] = a["since"]  # type: ignore[assignment]
        deadlines: list[int] = a["deadlines"]  # type: ignore[assignment]
        out[key] = {
            "open": a["open"],  # type: ignore[dict-item]
            "waiting": len(since),
            "oldest_waiting_seconds": max(0.0, (at_ms - min(since)) / 1000.0) if since else 0.0,
            "breaching": sum(1 for d in deadlines if d < at_ms),
            "at_risk": sum(1 for d in deadlines if at_ms <= d < at_ms + max(cfg.at_risk_ms)),
            **{within_key("at_risk", name): sum(1 for d in deadlines if at_ms <= d < at_ms + ms)
               for name, ms in cfg.horizons},
            **{f"sla_running_{t}": a[t]  # type: ignore[misc]
               for t in ("first_reply", "next_reply", "resolution")},
        }
        cal = cfg.calendar_for(queue_of[key]) if key in queue_of else None
        if cal is not None:
            out[key]["oldest_waiting_business_seconds"] = \
                _business(cal, min(since), at_ms) / 1000.0 if since else 0.0
    return out


@dataclass(frozen=True)
class Evaluation:
    windows: dict[str, dict[str, dict[str, float | None]]]  # window name → rows
    ranges: dict[str, tuple[int, int]]  # window name → [start, end) of event times
    gauges: dict[str, dict[str, float | None]]


def evaluate(accepted: Accepted, cfg: KpiConfig, at_ms: int,
             ranges: dict[str, tuple[int, int]] | None = None) -> Evaluation:
    """Every window and the live gauges as of ``at_ms`` (gauges: every event known); each
    window over :func:`window_range`, or over the ``ranges`` given."""
    by_conv: dict[str, list[Event]] = defaultdict(list)
    for e in accepted.events:
        by_conv[e.conversation_id].append(e)
    facts = [facts_of(evs, cfg, accepted.admitted) for evs in by_conv.values()]
    newest = max((e.t_ms for e in accepted.events), default=None)
    spans = {w.name: (ranges or {}).get(w.name) or window_range(w, at_ms, cfg, newest)
             for w in cfg.windows}
    windows = {name: window_rows(facts, lo, hi, cfg) for name, (lo, hi) in spans.items()}
    return Evaluation(windows, spans, gauge_rows(facts, at_ms, cfg))
