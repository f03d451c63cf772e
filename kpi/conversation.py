"""A conversation's events → its window contributions and its live state (pure).

The stream never keeps running KPI tallies that an out-of-order event could leave
wrong. Instead, a conversation's contribution to the windows is a pure function of the
*set* of its events (sorted by event time); when an event arrives, the writer computes
the contribution before and after it and applies the difference to the buckets. So a
reply that arrives before its ``created``, an escalation that arrives after the solve,
or a reopen that retracts FCR all end exactly where the in-order history would: the
result depends on which events arrived, never on their order.

A contribution is a mapping ``(t_ms, metric) → integer`` placed at the event time
that completes the measurement (the first human reply for FRT, the first solve for FCR
and resolution time, the survey time for CSAT).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kpi import histogram, sla
from kpi.calendar import BusinessCalendar, business_ms
from kpi.config import KpiConfig
from kpi.events import (
    COMPLETE_TYPES,
    HANDOFF,
    MESSAGE_TYPES,
    OTHER,
    START_TYPES,
    UNKNOWN,
    Event,
)
from kpi.fcr import FCR_RULES
from kpi.policies import SlaPolicy

Contribution = dict[tuple[int, str], int]


class ConversationView:
    """A conversation's labels and window contributions.

    The classes of the per-event path are plain classes, not frozen dataclasses: compiled
    (setup.py), a frozen dataclass keeps an interpreted ``__init__`` that sets each field
    through ``object.__setattr__`` (0.6 µs a construction against 0.05)."""

    __slots__ = ("dims", "items")

    def __init__(self, dims: tuple[tuple[str, str], ...], items: Contribution) -> None:
        self.dims = dims
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConversationView) and self.dims == other.dims \
            and self.items == other.items

    def __repr__(self) -> str:
        return f"ConversationView(dims={self.dims!r}, items={self.items!r})"


NO_AGENT = "none"


SortKey = tuple[int, int, str]


class Folded:
    """What the KPIs still need of a long conversation's folded messages (see :func:`fold`):
    where the folded part ends, and the customer message still waiting for a reply there."""

    __slots__ = ("boundary", "dims", "pending")

    def __init__(self, boundary: SortKey, pending: int | None,
                 dims: tuple[tuple[str, str], ...]) -> None:
        self.boundary = boundary  # every event sorting at or before it is folded
        self.pending = pending  # the oldest unanswered customer message at the boundary (ms)
        self.dims = dims  # the labels, frozen at the first fold

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Folded) and (self.boundary, self.pending, self.dims) == (
            other.boundary, other.pending, other.dims)

    def __hash__(self) -> int:
        return hash((self.boundary, self.pending, self.dims))

    def __repr__(self) -> str:
        return f"Folded({self.boundary!r}, {self.pending!r}, {self.dims!r})"


def conversation_dims(events: Sequence[Event], cfg: KpiConfig | None = None,
                      folded: Folded | None = None) -> dict[str, str]:
    """Labels of a conversation: the start event's values, else the earliest event giving one.

    ``agent`` is the agent of the first human reply when allow-listed, ``other`` when not,
    ``none`` before any human reply: agent identifiers never become labels otherwise. A
    folded conversation keeps the labels it had when it was first folded: its folded
    response times stay in the buckets under them, so its other numbers must too.
    """
    if folded is not None:
        return dict(folded.dims)
    return _dims_of(in_order(events), cfg)


def in_order(events: Sequence[Event]) -> list[Event]:
    """The events sorted by :meth:`Event.sort_key`; most arrive in order, so a pass that
    finds them sorted is all it costs then."""
    out = list(events)
    for i in range(1, len(out)):
        if out[i].sort_key() < out[i - 1].sort_key():
            out.sort(key=Event.sort_key)
            break
    return out


def _dims_of(ordered: Sequence[Event], cfg: KpiConfig | None) -> dict[str, str]:
    """:func:`conversation_dims` of events already in order (and not folded)."""
    channel = queue = team = priority = None
    for starts_only in (True, False):  # the start event's values first
        for e in ordered:
            if starts_only and e.type not in START_TYPES:
                continue
            channel = channel or e.channel
            queue = queue or e.queue
            team = team or e.team
            priority = priority or e.priority
    # the order of DIMENSIONS
    dims = {"channel": channel or UNKNOWN, "queue": queue or UNKNOWN, "team": team or UNKNOWN,
            "priority": priority or UNKNOWN}
    agent = NO_AGENT
    if cfg is not None and cfg.agent_allowlist:
        for e in ordered:
            if is_human_reply(e, cfg):
                agent = e.agent_id if e.agent_id in cfg.agent_allowlist else OTHER
                break
    dims["agent"] = agent
    return dims


def is_human_reply(e: Event, cfg: KpiConfig) -> bool:
    """A reply that counts as a human contact (a bot's only with SUPPORT_COUNT_BOT_REPLIES)."""
    if e.type not in MESSAGE_TYPES:
        return False
    return e.actor == "agent" or (cfg.count_bot_replies and e.actor == "bot")


def _add_duration(out: Contribution, t: int, prefix: str, duration_ms: int) -> None:
    # no count field: every sample adds one to a histogram bin, so the bins sum to the
    # count (catalog.Duration); a field fewer per sample in every resolution's bucket
    key = (t, prefix + "_s")
    out[key] = out.get(key, 0) + duration_ms
    key = (t, prefix + "_h:" + histogram.bin_of_ms(duration_ms))
    out[key] = out.get(key, 0) + 1


def _inc(out: Contribution, t: int, metric: str, n: int = 1) -> None:
    if n:
        out[(t, metric)] = out.get((t, metric), 0) + n


def queue_entry_ms(ordered: Sequence[Event], cfg: KpiConfig) -> int | None:
    """When the conversation started waiting for a human.

    Tickets: at ``created``. Chats: at the first bot→human handoff; a chat without a
    handoff that a human answers entered at ``started``; a chat only the bot handled
    never entered the human queue.
    """
    starts = [e for e in ordered if e.type in START_TYPES]
    if not starts:
        return None
    start = starts[0]
    if start.type == "ticket.created":
        return start.t_ms
    handoffs = [e for e in ordered if e.type == "chat.handoff"]
    if handoffs:
        return handoffs[0].t_ms
    if any(is_human_reply(e, cfg) for e in ordered):
        return start.t_ms
    return None


def contributions(events: Sequence[Event], cfg: KpiConfig,
                  folded: Folded | None = None) -> ConversationView:
    """The conversation's whole contribution to every window (see module doc), one KPI
    unit at a time; each unit writes the stored fields its catalog entry names. Of a
    folded conversation it is the contribution of what is kept: the folded response times
    were written when they were folded and never change."""
    return _contributions(_Evaluation.of(events, cfg, folded), cfg)


def evaluate(events: Sequence[Event], cfg: KpiConfig,
             folded: Folded | None = None) -> tuple[ConversationView, LiveState]:
    """:func:`contributions` and :func:`live_state` at once: the writer needs both of every
    changed conversation, and they share the sort, the labels and the reply pairing."""
    ev = _Evaluation.of(events, cfg, folded)
    return _contributions(ev, cfg), _live(ev, cfg)


class _Lookups:
    """What the arithmetic looks up by a conversation's labels, once per distinct labels
    (memoized in ``KpiConfig.dims_cache``): the lookups are methods of the configuration,
    interpreted, and every evaluation needed each of them twice."""

    __slots__ = ("cal", "clock", "labels", "policy", "sla_cal", "target")

    def __init__(self, dims: dict[str, str], cfg: KpiConfig) -> None:
        self.labels: tuple[tuple[str, str], ...] = tuple(sorted(dims.items()))
        self.target: int = cfg.frt_target_ms(dims["priority"], dims["channel"])
        self.sla_cal: BusinessCalendar | None = cfg.sla_calendar(dims["queue"])
        self.cal: BusinessCalendar | None = cfg.calendar_for(dims["queue"])
        self.policy: SlaPolicy | None = cfg.policies.for_dims(dims)
        self.clock: sla.Clock | None = None if self.policy is None else \
            _clock(self.policy, dims, cfg)


def _lookups(dims: dict[str, str], cfg: KpiConfig) -> _Lookups:
    key = (dims["queue"], dims["channel"], dims["priority"], dims["team"], dims["agent"])
    cache = cfg.dims_cache
    found: _Lookups | None = cache.get(key)
    if found is None:
        found = _Lookups(dims, cfg)
        if len(cache) < 100_000:  # label values are capped; this only bounds the worst
            cache[key] = found
    return found


class _Evaluation:
    """What both the contributions and the live state derive from a conversation."""

    __slots__ = ("c", "dims", "folded", "lk", "paired")

    def __init__(self, c: _Conversation, dims: dict[str, str],
                 paired: tuple[list[tuple[int, int]], int | None], folded: Folded | None,
                 lk: _Lookups) -> None:
        self.c = c
        self.dims = dims
        self.paired = paired
        self.folded = folded
        self.lk = lk

    @staticmethod
    def of(events: Sequence[Event], cfg: KpiConfig, folded: Folded | None) -> _Evaluation:
        ordered = in_order(events)
        dims = dict(folded.dims) if folded is not None else _dims_of(ordered, cfg)
        # one pairing for every response KPI
        return _Evaluation(_Conversation.of(ordered, cfg), dims, _pairing(ordered, cfg, folded),
                           folded, _lookups(dims, cfg))


def _contributions(ev: _Evaluation, cfg: KpiConfig) -> ConversationView:
    c, paired, lk = ev.c, ev.paired, ev.lk
    out: Contribution = {}
    if c.created_t is not None:
        _inc(out, c.created_t, "vol_created")
    _first_response(out, c)
    _service_level(out, c, cfg, lk.target, lk.sla_cal)
    _responses(out, paired[0])
    _business_time(out, c, lk.cal, paired[0])
    if lk.policy is not None and lk.clock is not None:
        sla.contributions(out, _sla_view(c, paired), lk.policy, lk.clock)
    _volumes(out, c, cfg)
    _completion(out, c, cfg)
    _chat_funnel(out, c)
    _surveys(out, c, cfg)
    return ConversationView(dims=lk.labels, items=out)


class _Conversation:
    """What the KPI units of one conversation share, derived once from its sorted events."""

    __slots__ = ("completes", "created_t", "entry", "is_chat", "ordered", "replies")

    def __init__(self, ordered: Sequence[Event], created_t: int | None, is_chat: bool,
                 replies: Sequence[Event], completes: Sequence[Event], entry: int | None
                 ) -> None:
        self.ordered = ordered
        self.created_t = created_t
        self.is_chat = is_chat
        self.replies = replies  # human replies, in order
        self.completes = completes
        self.entry = entry  # entered the human queue (see queue_entry_ms)

    @staticmethod
    def of(ordered: Sequence[Event], cfg: KpiConfig) -> _Conversation:
        """One pass over the events (the entry as :func:`queue_entry_ms` gives it)."""
        bots = cfg.count_bot_replies
        start: Event | None = None
        handoff: int | None = None
        replies: list[Event] = []
        completes: list[Event] = []
        for e in ordered:
            typ = e.type
            if typ in START_TYPES:
                if start is None:
                    start = e
            elif typ in MESSAGE_TYPES:
                if e.actor == "agent" or (bots and e.actor == "bot"):
                    replies.append(e)
            elif typ in COMPLETE_TYPES:
                completes.append(e)
            elif typ == HANDOFF and handoff is None:
                handoff = e.t_ms
        if start is None:
            return _Conversation(ordered, None, False, replies, completes, None)
        entry: int | None = None
        if start.type == "ticket.created":
            entry = start.t_ms
        elif handoff is not None:
            entry = handoff
        elif replies:
            entry = start.t_ms
        return _Conversation(ordered, start.t_ms, start.type == "chat.started", replies,
                             completes, entry)


def _first_response(out: Contribution, c: _Conversation) -> None:
    """FRT, at the first human reply."""
    if c.created_t is None or not c.replies:
        return
    first = c.replies[0].t_ms
    _add_duration(out, first, "frt", max(0, first - c.created_t))


def _waited(cal: BusinessCalendar | None, since: int, until: int) -> int:
    """A wait toward an SLA target: business time where the queue has a calendar."""
    return until - since if cal is None else business_ms(cal, since, until)


def _service_level(out: Contribution, c: _Conversation, cfg: KpiConfig, target: int,
                   cal: BusinessCalendar | None) -> None:
    """The service level's sample (``sla_n``) and whether it met the target (``sla_ok``),
    by the configured definition (docs/kpis.md); waits count business time where the
    queue's SLA clock is a calendar:

    - ``first_response``: every first response, from created/started, at the reply;
    - ``amazon_connect``: every conversation that left the human queue, answered or
      abandoned, within the target of entering it ("Service level X"), at the exit;
    - ``talkdesk``: answered within the target of entering the queue, over answered plus
      abandoned, leaving out abandons within ``short_abandon_ms``; at the exit.
    """
    definition = cfg.service_level_definition
    if definition == "first_response":
        if c.created_t is not None and c.replies:
            first = c.replies[0].t_ms
            _inc(out, first, "sla_n")
            met = _waited(cal, c.created_t, first) <= target
            _inc(out, first, "sla_ok", 1 if met else 0)
        return
    if c.entry is None:
        return
    if c.replies and c.replies[0].t_ms >= c.entry:
        exit_t, answered = c.replies[0].t_ms, True
    elif not c.replies and c.completes and c.completes[0].t_ms >= c.entry:
        exit_t, answered = c.completes[0].t_ms, False
    else:
        return  # still waiting (or answered before it entered: not a queue wait)
    if definition == "talkdesk" and not answered and exit_t - c.entry <= cfg.short_abandon_ms:
        return
    met = _waited(cal, c.entry, exit_t) <= target and (answered or definition == "amazon_connect")
    _inc(out, exit_t, "sla_n")
    _inc(out, exit_t, "sla_ok", 1 if met else 0)


def _pairing(ordered: Sequence[Event], cfg: KpiConfig, folded: Folded | None
             ) -> tuple[list[tuple[int, int]], int | None]:
    """Customer messages paired with the human reply that answers them, after the folded
    part and from where the fold left off: (reply time, oldest customer message it
    answers) per answer, and the customer message still unanswered at the end. One
    definition for response time and for folding, so a fold cannot change it."""
    pending = folded.pending if folded else None
    answers: list[tuple[int, int]] = []
    bots = cfg.count_bot_replies
    for e in ordered:
        if e.type not in MESSAGE_TYPES or (folded is not None
                                           and e.sort_key() <= folded.boundary):
            continue
        if e.actor == "customer":
            if pending is None:
                pending = e.t_ms
        elif pending is not None and (e.actor == "agent" or (bots and e.actor == "bot")):
            answers.append((e.t_ms, pending))
            pending = None
    return answers, pending


def _responses(out: Contribution, answers: Sequence[tuple[int, int]]) -> None:
    """Each human reply to a pending customer message, measured from the oldest customer
    message it answers."""
    for t, since in answers:
        _add_duration(out, t, "resp", max(0, t - since))


def _business_time(out: Contribution, c: _Conversation, cal: BusinessCalendar | None,
                   answers: Sequence[tuple[int, int]]) -> None:
    """First response, resolution and response times again in the queue's business
    hours (helpdesks report SLAs that way: a ticket from Friday evening answered on Monday
    morning waited minutes, not 60 hours); nothing for a queue without a calendar."""
    if cal is None:
        return
    if c.created_t is not None and c.replies:
        first = c.replies[0].t_ms
        _add_duration(out, first, "frtb", business_ms(cal, c.created_t, first))
    if c.created_t is not None and c.completes:
        done = c.completes[0].t_ms
        _add_duration(out, done, "resb", business_ms(cal, c.created_t, done))
    for t, since in answers:
        _add_duration(out, t, "respb", business_ms(cal, since, t))


def _sla_view(c: _Conversation, paired: tuple[list[tuple[int, int]], int | None]
              ) -> sla.Conversation:
    answers, pending = paired
    return sla.Conversation(c.ordered, c.created_t, [e.t_ms for e in c.replies], answers,
                            pending, _is_open(c.ordered))


def _clock(policy: SlaPolicy, dims: Mapping[str, str], cfg: KpiConfig) -> sla.Clock:
    return sla.Clock(cfg.calendar_for(dims["queue"]) if policy.business else None)


def _is_open(ordered: Sequence[Event]) -> bool:
    """Started and not completed (a reopen after the last completion reopens it;
    ``ticket.closed`` closes it)."""
    if not any(e.type in START_TYPES for e in ordered):
        return False
    is_open = True
    for e in ordered:
        if e.type in COMPLETE_TYPES or e.type == "ticket.closed":
            is_open = False
        elif e.type == "ticket.reopened":
            is_open = True
    return is_open


def _volumes(out: Contribution, c: _Conversation, cfg: KpiConfig) -> None:
    escalations = cfg.escalation_types
    for e in c.completes:
        _inc(out, e.t_ms, "vol_solved")
    for e in c.ordered:
        if e.type == "ticket.reopened":
            _inc(out, e.t_ms, "vol_reopened")
        elif e.type in escalations:
            _inc(out, e.t_ms, "vol_escalated")
    if c.entry is not None:
        _inc(out, c.entry, "queue_in")


def _completion(out: Contribution, c: _Conversation, cfg: KpiConfig) -> None:
    """Resolution time, escalation, FCR, reopens, abandonment and bot containment, at the
    first completion.

    FCR's denominator (``fcr_d``) is the completed conversations a human worked: an
    abandoned one (it entered the human queue and ended with no human reply) or a
    bot-only one did no human contact to resolve, so neither counts either way."""
    if not c.completes:
        return
    done_t = c.completes[0].t_ms
    _inc(out, done_t, "done_n")
    if c.created_t is not None:
        _add_duration(out, done_t, "res", max(0, done_t - c.created_t))
    before = [e for e in c.ordered if e.t_ms <= done_t]
    escalations = cfg.escalation_types
    _inc(out, done_t, "esc_n", 1 if any(e.type in escalations for e in before) else 0)
    reopened = any(
        e.type == "ticket.reopened" and done_t <= e.t_ms <= done_t + cfg.reopen_window_ms
        for e in c.ordered
    )
    _inc(out, done_t, "reopen_n", 1 if reopened else 0)
    replies = [e for e in c.replies if e.t_ms <= done_t]
    if replies:
        if cfg.fcr_definition != "customer":  # else the customer path places both
            _inc(out, done_t, "fcr_d")
            fcr = FCR_RULES[cfg.fcr_definition](before, replies, reopened)
            _inc(out, done_t, "fcr_n", 1 if fcr else 0)
    elif c.entry is not None and c.entry <= done_t:
        _inc(out, done_t, "abandoned")
    if c.is_chat:
        _inc(out, done_t, "chat_done")
        handed_off = any(e.type == HANDOFF for e in before)
        _inc(out, done_t, "bot_contained", 0 if handed_off or replies else 1)


def _chat_funnel(out: Contribution, c: _Conversation) -> None:
    """Chats started, bot→human handoffs, time with the bot, first reply after handoff."""
    if not c.is_chat or c.created_t is None:
        return
    _inc(out, c.created_t, "chat_n")
    handoffs = [e for e in c.ordered if e.type == "chat.handoff"]
    if not handoffs:
        return
    h = handoffs[0].t_ms
    _inc(out, h, "handoff_n")
    _add_duration(out, h, "bot", max(0, h - c.created_t))
    after = [e for e in c.replies if e.t_ms >= h]
    if after:
        _add_duration(out, after[0].t_ms, "frah", after[0].t_ms - h)


def _surveys(out: Contribution, c: _Conversation, cfg: KpiConfig) -> None:
    """CSAT, NPS and CES responses at the survey's time (scores kept in thousandths)."""
    for e in c.ordered:
        if e.score is None:
            continue
        milli = round(e.score * 1000)
        if e.type == "survey.csat":
            _inc(out, e.t_ms, "csat_n")
            _inc(out, e.t_ms, "csat_pos", 1 if e.score >= cfg.csat_satisfied_min else 0)
            _inc(out, e.t_ms, "csat_sm", milli)
        elif e.type == "survey.nps":
            _inc(out, e.t_ms, "nps_n")
            _inc(out, e.t_ms, "nps_pro", 1 if e.score >= 9 else 0)
            _inc(out, e.t_ms, "nps_det", 1 if e.score <= 6 else 0)
        elif e.type == "survey.ces":
            _inc(out, e.t_ms, "ces_n")
            _inc(out, e.t_ms, "ces_sm", milli)


class LiveState:
    """Where a conversation stands now (for the live queue gauges)."""

    __slots__ = ("deadline", "dims", "open", "running", "waiting_since")

    def __init__(self, dims: tuple[tuple[str, str], ...], open: bool,
                 waiting_since: int | None, deadline: int | None,
                 running: tuple[str, ...] = ()) -> None:
        self.dims = dims
        self.open = open
        self.waiting_since = waiting_since  # waiting for a first human response since (ms)
        # when its first-response target falls due (business time where the queue has a
        # calendar), or its SLA policy's earliest running target
        self.deadline = deadline
        self.running = running  # the SLA policy targets whose clocks run now

    def _fields(self) -> tuple[object, ...]:
        return (self.dims, self.open, self.waiting_since, self.deadline, self.running)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LiveState) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return ("LiveState(dims={!r}, open={!r}, waiting_since={!r}, deadline={!r}, "
                "running={!r})").format(*self._fields())


def live_state(events: Sequence[Event], cfg: KpiConfig,
               folded: Folded | None = None) -> LiveState:
    """Open: see :func:`_is_open`. Waiting = open, in the human queue, no human reply yet.
    The deadline is the first-response target's, or, where an SLA policy applies, the
    earliest of its targets running now (:func:`kpi.sla.running`)."""
    return _live(_Evaluation.of(events, cfg, folded), cfg)


def _live(ev: _Evaluation, cfg: KpiConfig) -> LiveState:
    c, lk = ev.c, ev.lk
    is_open = _is_open(c.ordered)
    waiting: int | None = None
    deadline: int | None = None
    if is_open and not c.replies:
        waiting = c.entry
        if waiting is not None:
            target, cal = lk.target, lk.sla_cal
            due = cal.add_business(waiting, target) if cal is not None else None
            deadline = due if due is not None else waiting + target
    if lk.policy is None or lk.clock is None:
        return LiveState(lk.labels, is_open, waiting, deadline)
    running = sla.running(_sla_view(c, ev.paired), lk.policy, lk.clock)
    deadline = min(running.values(), default=None)
    return LiveState(lk.labels, is_open, waiting, deadline, tuple(sorted(running)))
