"""Batch oracle: every windowed KPI and live gauge from a plain list of events.

Deliberately simple and independent of the stream: no Redis, no buckets of counters,
no histogram, no code shared with ``windows.kpi`` — only the event schema (validation)
and the configuration values. It re-derives each KPI from its definition in
docs/kpis.md with exact arithmetic (exact nearest-rank percentiles), so when the stream
and the oracle agree, they agree for independent reasons.

Stream semantics the oracle reproduces on purpose, because they decide which events
count: arrival order per Kafka partition (default murmur2 partitioner on the
conversation id), the first copy of an ``event_id`` wins, and an event older than its
partition's highest accepted time minus the allowed lateness is dropped as late.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kafka.partitioner.default import murmur2

from streams.errors import InvalidEvent
from streams.schema import SchemaConfig, validate
from windows.config import KpiConfig, WindowSpec
from windows.events import Event

RANK = {"ticket.created": 0, "chat.started": 0, "ticket.assigned": 1, "chat.handoff": 2,
        "chat.transferred": 2, "ticket.escalated": 2, "ticket.message": 3, "chat.message": 3,
        "ticket.solved": 4, "chat.ended": 4, "ticket.reopened": 5, "ticket.closed": 6}


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, positive, modulo)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass
class Accepted:
    events: list[Event] = field(default_factory=list)
    invalid: int = 0
    duplicates: int = 0
    late: int = 0


def accept(messages: Iterable[tuple[int, bytes]], cfg: KpiConfig,
           schema: SchemaConfig | None = None) -> Accepted:
    """Apply the stream's admission rules to ``(partition, raw bytes)`` in arrival order."""
    schema = schema or SchemaConfig()
    out = Accepted()
    seen: set[tuple[str, str]] = set()
    highest: dict[int, int] = {}
    for partition, raw in messages:
        try:
            e = validate(raw, schema, lambda: 2**62)
        except InvalidEvent:
            out.invalid += 1
            continue
        if (e.conversation_id, e.event_id) in seen:
            out.duplicates += 1
            continue
        top = highest.get(partition)
        if top is not None and e.t_ms < top - cfg.allowed_lateness_ms:
            out.late += 1
            continue
        highest[partition] = e.t_ms if top is None else max(top, e.t_ms)
        seen.add((e.conversation_id, e.event_id))
        out.events.append(e)
    return out


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


def facts_of(events: Sequence[Event], cfg: KpiConfig) -> Facts:
    evs = sorted(events, key=lambda e: (e.t_ms, RANK.get(e.type, 7), e.event_id))
    start = next((e for e in evs if e.type in ("ticket.created", "chat.started")), None)

    def human(e: Event) -> bool:
        return e.type in ("ticket.message", "chat.message") and (
            e.actor == "agent" or (cfg.count_bot_replies and e.actor == "bot"))

    humans = [e for e in evs if human(e)]
    first_human = humans[0] if humans else None
    labels = _labels_of(evs, start, first_human, cfg)
    f = Facts(labels=labels)
    cnt, dur = f.counts, f.durations

    if start:
        cnt["vol_created"].append((start.t_ms, 1))
        if first_human:
            frt = max(0, first_human.t_ms - start.t_ms)
            dur["frt"].append((first_human.t_ms, frt))
            ok = frt <= _target(cfg, labels["priority"], labels["channel"])
            cnt["frt_ok"].append((first_human.t_ms, int(ok)))
    oldest_unanswered = None
    for e in evs:
        if e.type in ("ticket.message", "chat.message") and e.actor == "customer":
            oldest_unanswered = oldest_unanswered if oldest_unanswered is not None else e.t_ms
        elif human(e) and oldest_unanswered is not None:
            dur["resp"].append((e.t_ms, max(0, e.t_ms - oldest_unanswered)))
            oldest_unanswered = None
    for e in evs:
        if e.type in ("ticket.solved", "chat.ended"):
            cnt["vol_solved"].append((e.t_ms, 1))
        if e.type == "ticket.reopened":
            cnt["vol_reopened"].append((e.t_ms, 1))
        if e.type in ("ticket.escalated", "chat.handoff", "chat.transferred"):
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
    _done_facts(f, evs, start, humans, entered, cfg)
    if start is not None and start.type == "chat.started":
        _chat_facts(f, start, handoff, humans)
    _survey_facts(f, evs, cfg)
    if start is not None:
        _live_facts(f, evs, humans, entered, cfg)
    return f


def _done_facts(f: Facts, evs: Sequence[Event], start: Event | None, humans: Sequence[Event],
                entered: int | None, cfg: KpiConfig) -> None:
    done = next((e for e in evs if e.type in ("ticket.solved", "chat.ended")), None)
    if done is None:
        return
    cnt, dur = f.counts, f.durations
    t = done.t_ms
    cnt["done"].append((t, 1))
    if start:
        dur["res"].append((t, max(0, t - start.t_ms)))
    esc = any(e.type in ("ticket.escalated", "chat.handoff", "chat.transferred")
              and e.t_ms <= t for e in evs)
    cnt["esc"].append((t, int(esc)))
    n_human = len([e for e in humans if e.t_ms <= t])
    broken = any(e.type in ("ticket.escalated", "chat.transferred") and e.t_ms <= t
                 for e in evs)
    reopened = any(e.type == "ticket.reopened" and t <= e.t_ms <= t + cfg.reopen_window_ms
                   for e in evs)
    cnt["fcr"].append((t, int(n_human <= 1 and not broken and not reopened)))
    if entered is not None and entered <= t and n_human == 0:
        cnt["abandoned"].append((t, 1))


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
                cfg: KpiConfig) -> None:
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
        f.deadline = entered + _target(cfg, f.labels["priority"], f.labels["channel"])


# ------------------------------------------------------------------ windows


def window_range(w: WindowSpec, at_ms: int) -> tuple[int, int]:
    """[start, end) of event times that the window evaluated at ``at_ms`` covers."""
    size = w.length_ms // w.buckets
    current = at_ms - at_ms % size
    return current - (w.buckets - 1) * size, current + size


def _nearest_rank(values: list[float], q: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    return xs[max(1, math.ceil(q * len(xs) - 1e-9)) - 1]


def _qname(q: float) -> str:
    return f"{q * 100:g}".replace(".", "_")


def _key(labels: dict[str, str], dims: Sequence[str]) -> str:
    return "*" if not dims else ",".join(f"{d}={labels[d]}" for d in dims)


def window_rows(facts: Iterable[Facts], w: WindowSpec, at_ms: int,
                cfg: KpiConfig) -> dict[str, dict[str, float | None]]:
    lo, hi = window_range(w, at_ms)
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

    durations("frt", "frt", cfg.quantiles_frt)
    r["frt_sla_ratio"] = div(cs["frt_ok"], len(ds.get("frt", [])))
    durations("res", "resolution", cfg.quantiles_resolution)
    durations("resp", "response", cfg.quantiles_other)
    r["completed"] = cs["done"]
    r["fcr_resolved"] = cs["fcr"]
    r["fcr_ratio"] = div(cs["fcr"], cs["done"])
    r["escalated_completed"] = cs["esc"]
    r["escalation_ratio"] = div(cs["esc"], cs["done"])
    r["csat_responses"] = cs["csat"]
    r["csat_satisfied"] = cs["csat_pos"]
    r["csat_ratio"] = div(cs["csat_pos"], cs["csat"])
    r["csat_mean"] = cs["csat_milli"] / 1000.0 / cs["csat"] if cs["csat"] else None
    r["nps_responses"] = cs["nps"]
    r["nps_score"] = 100.0 * (cs["nps_pro"] - cs["nps_det"]) / cs["nps"] if cs["nps"] else None
    r["ces_responses"] = cs["ces"]
    r["ces_mean"] = cs["ces_milli"] / 1000.0 / cs["ces"] if cs["ces"] else None
    for v in ("created", "solved", "reopened", "escalated"):
        r[f"volume_{v}"] = cs[f"vol_{v}"]
    r["queued"] = cs["queue_in"]
    r["abandoned"] = cs["abandoned"]
    r["abandonment_ratio"] = div(cs["abandoned"], cs["queue_in"])
    r["chats_started"] = cs["chat_n"]
    r["handoffs"] = cs["handoff_n"]
    r["handoff_ratio"] = div(cs["handoff_n"], cs["chat_n"])
    durations("bot", "bot_time", cfg.quantiles_other)
    durations("frah", "frt_after_handoff", cfg.quantiles_other)
    return r


def gauge_rows(facts: Iterable[Facts], at_ms: int,
               cfg: KpiConfig) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    acc: dict[str, dict[str, list[int] | int]] = defaultdict(
        lambda: {"open": 0, "since": [], "deadlines": []})
    for f in facts:
        for dims in cfg.gauge_dimension_sets:
            a = acc[_key(f.labels, dims)]
            if f.live_open:
                a["open"] += 1  # type: ignore[operator]
            if f.waiting_since is not None:
                a["since"].append(f.waiting_since)  # type: ignore[union-attr]
                a["deadlines"].append(f.deadline)  # type: ignore[union-attr, arg-type]
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
            "at_risk": sum(1 for d in deadlines if at_ms <= d < at_ms + cfg.at_risk_ms),
        }
    return out


def evaluate(events: Sequence[Event], cfg: KpiConfig, at_ms: int
             ) -> tuple[dict[str, dict[str, dict[str, float | None]]],
                        dict[str, dict[str, float | None]]]:
    """(rows per window name, gauge rows) as of ``at_ms`` (gauges: every event known)."""
    by_conv: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        by_conv[e.conversation_id].append(e)
    facts = [facts_of(evs, cfg) for evs in by_conv.values()]
    windows = {w.name: window_rows(facts, w, at_ms, cfg) for w in cfg.windows}
    return windows, gauge_rows(facts, at_ms, cfg)
