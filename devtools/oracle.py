"""Batch oracle: every windowed KPI and live gauge from a plain list of events.

Deliberately simple and independent of the stream: no Redis, no buckets of counters,
no histogram, no code shared with ``kpi`` — only the event schema (validation)
and the configuration values. It re-derives each KPI from its definition in
docs/kpis.md with exact arithmetic (exact nearest-rank percentiles), so when the stream
and the oracle agree, they agree for independent reasons.

Stream semantics the oracle reproduces on purpose, because they decide which events
count: arrival order per Kafka topic and partition (default murmur2 partitioner on the
conversation id), the first copy of an ``event_id`` wins, an event older than its topic
partition's highest accepted time minus the allowed lateness is dropped as late, a
dimension shows the ``max_dimension_values`` values whose earliest conversation began
first (ties by value) and labels the rest ``other`` (the stream records a conversation's
labels per batch: a label it carries only in the middle of one batch is not recorded
there, here it is, so histories that fill the cap should give their labels on the first
event), and a window's edges fall on
the finest bucket boundary (``[T − W, T)`` rounded inwards to it, the end left at ``T``
when nothing at or after ``T`` was accepted).

Business time (queues with a calendar) is counted here the way a person checks it: minute
by minute, each UTC minute looked up in the calendar's zone (local weekday, date, time of
day); the stream walks pieces of constant UTC offset instead (``kpi.calendar``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devtools.oracle_customers import customer_facts
from devtools.oracle_facts import Facts, Labels, business_ms, facts_of
from kpi.config import KpiConfig, WindowSpec
from kpi.events import Event
from kpi.kinds import within_key
from streams.arrival import partition_of, time_order
from streams.errors import InvalidEvent
from streams.history import InputTopics, read_lines
from streams.schema import SchemaConfig, validate

BUSINESS_QUANTILES = (0.5, 0.9)

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
    so_far: dict[str, Labels] = defaultdict(Labels)
    began: dict[str, int] = {}  # conversation → its earliest accepted event time
    first: dict[str, dict[str, int]] = {d: {} for d in out.admitted}  # value → earliest
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
        t0 = began[e.conversation_id] = min(began.get(e.conversation_id, e.t_ms), e.t_ms)
        for d, times in first.items():
            times[labels[d]] = min(times.get(labels[d], t0), t0)
    for d, times in first.items():  # the earliest values, whatever order they came in
        ranked = sorted(times.items(), key=lambda vt: (vt[1], vt[0]))
        out.admitted[d] = {v for v, _t in ranked[:cfg.max_dimension_values]}
    return out


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
    _customer_row(r, cs, [name for name, _ in cfg.repeat_shorter])
    # the agents' KPIs: these floors carry no agent events (devtools/oracle_agents.py
    # checks the agents' side), so they have no handle time and no occupancy
    durations("aht", "handle_time", (0.5, 0.9))
    r["occupancy_ratio"] = None
    r["agent_productive_seconds"] = None
    for name, short in (("first_reply", "slfr"), ("next_reply", "slnr"),
                        ("resolution", "slres")):
        n, met = cs[f"{short}_n"], cs[f"{short}_met"]
        r[f"sla_{name}_samples"] = n
        r[f"sla_{name}_met"] = met
        r[f"sla_{name}_breached"] = n - met
        r[f"sla_{name}_ratio"] = div(met, n)
        bounds(f"sla_{name}_ratio", met, n)
    return r


def _customer_row(r: dict[str, float | None], cs: dict[str, int],
                  repeat_windows: list[str]) -> None:
    """The customer KPIs (a count absent when 0: an optional path's); the repeat contact
    rate also within each shorter repeat window, where there were completions."""
    def div(a: float, b: float) -> float | None:
        return a / b if b > 0 else None

    for key, name in (("customer_completed", "rep_d"), ("repeat_contacts", "rep_n"),
                      ("customer_fcr_eligible", "cfcr_d"), ("customer_episodes", "cpc_n")):
        r[key] = cs[name] or None
    for key, num, den in (("repeat_ratio", "rep_n", "rep_d"),
                          ("cfcr_ratio", "cfcr_n", "cfcr_d"),
                          ("switch_ratio", "rep_sw", "rep_n")):
        r[key] = div(cs[num], cs[den])
        r[f"{key}_lower"], r[f"{key}_upper"] = \
            _wilson(cs[num], cs[den]) if cs[den] else (None, None)
    r["cpc_mean"] = div(cs["cpc_contacts"], cs["cpc_n"])
    for w in repeat_windows:
        k, n = cs[f"rep_n@{w}"], cs[f"rep_d@{w}"]
        if not n:
            continue
        r[f"repeat_contacts_within_{w}"] = k or None
        r[f"repeat_ratio_within_{w}"] = k / n
        r[f"repeat_ratio_lower_within_{w}"], r[f"repeat_ratio_upper_within_{w}"] = \
            _wilson(k, n)


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
    lo = at_ms - cfg.live_horizon_ms  # older waits and due times: history, not live work
    for key, a in acc.items():
        since: list[int] = [t for t in a["since"] if t >= lo]  # type: ignore[union-attr]
        deadlines: list[int] = [d for d in a["deadlines"] if d >= lo]  # type: ignore[union-attr]
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
                business_ms(cal, min(since), at_ms) / 1000.0 if since else 0.0
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
    by_id = {cid: facts_of(evs, cfg, accepted.admitted) for cid, evs in by_conv.items()}
    facts = list(by_id.values())
    if cfg.customer_kpis:
        facts += customer_facts(by_conv, by_id, cfg)
    newest = max((e.t_ms for e in accepted.events), default=None)
    spans = {w.name: (ranges or {}).get(w.name) or window_range(w, at_ms, cfg, newest)
             for w in cfg.windows}
    windows = {name: window_rows(facts, lo, hi, cfg) for name, (lo, hi) in spans.items()}
    return Evaluation(windows, spans, gauge_rows(facts, at_ms, cfg))


def arrivals(file: Path, topics: InputTopics, partitions: int,
             by_time: bool) -> list[tuple[str, int, bytes]]:
    """``(topic, partition, raw bytes)`` of a history file in the order ``replay`` sends
    it (event time when ``by_time``, else the file's), routed as it routes them."""
    lines = list(read_lines(file, topics))
    if by_time:
        lines = [lines[i] for i in time_order([ln.t_ms for ln in lines])]
    return [(ln.topic, partition_of(ln.key or b"", partitions), ln.raw) for ln in lines]
