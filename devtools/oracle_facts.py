"""The batch oracle's per-conversation facts: what each KPI's definition says of one
conversation's accepted events (docs/kpis.md), derived directly and independently of
:mod:`kpi` (see :mod:`devtools.oracle` for why), including business time counted minute by
minute in the calendar's own zone."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

from kpi.calendar import BusinessCalendar
from kpi.config import KpiConfig
from kpi.events import Event

MINUTE = 60_000

RANK = {"ticket.created": 0, "chat.started": 0, "ticket.assigned": 1, "chat.handoff": 2,
        "chat.transferred": 2, "ticket.escalated": 2, "ticket.message": 3, "chat.message": 3,
        "ticket.status_changed": 3, "ticket.solved": 4, "chat.ended": 4, "ticket.reopened": 5,
        "ticket.closed": 6}


@dataclass
class Labels:
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


def business_ms(cal: BusinessCalendar | None, a: int, b: int) -> int:
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
                dur["frtb"].append((first_human.t_ms, business_ms(cal, start.t_ms,
                                                                first_human.t_ms)))
    oldest_unanswered = None
    for e in evs:
        if e.type in ("ticket.message", "chat.message") and e.actor == "customer":
            oldest_unanswered = oldest_unanswered if oldest_unanswered is not None else e.t_ms
        elif human(e) and oldest_unanswered is not None:
            dur["resp"].append((e.t_ms, max(0, e.t_ms - oldest_unanswered)))
            if cal is not None:
                dur["respb"].append((e.t_ms, business_ms(cal, oldest_unanswered, e.t_ms)))
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
            sample = (humans[0].t_ms, business_ms(cal, start.t_ms, humans[0].t_ms) <= target)
    elif entered is not None:
        done = next((e for e in evs if e.type in ("ticket.solved", "chat.ended")), None)
        if humans and humans[0].t_ms >= entered:
            wait = business_ms(cal, entered, humans[0].t_ms)
            sample = (humans[0].t_ms, wait <= target)  # answered
        elif not humans and done is not None and done.t_ms >= entered:
            wait = business_ms(cal, entered, done.t_ms)  # abandoned
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
            dur["resb"].append((t, business_ms(cal, start.t_ms, t)))
    cnt["esc"].append((t, int(any(_escalates(e, cfg) and e.t_ms <= t for e in evs))))
    reopened = any(e.type == "ticket.reopened" and t <= e.t_ms <= t + cfg.reopen_window_ms
                   for e in evs)
    cnt["reopen"].append((t, int(reopened)))
    answered = [e for e in humans if e.t_ms <= t]
    if answered:
        if cfg.fcr_definition != "customer":  # else: devtools.oracle_customers
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
               business_ms(cal, start.t_ms, first.t_ms) <= targets["first_reply"])
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
                took = sum(business_ms(cal, a, b) for a, b in wait_runs)
                sample("slnr", e.t_ms, took <= targets["next_reply"])
            wait_from = None
    done = [e for e in evs if e.type in ("ticket.solved", "chat.ended")]
    if "resolution" in targets and not f.live_open and done:
        last = done[-1].t_ms
        took = sum(business_ms(cal, a, min(b, last)) for a, b in res_runs if a < last)
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
            have = business_ms(cal, a, b)
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
