"""KPI arithmetic as pure functions: a conversation's events → its window contributions.

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

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set

from windows import catalog, histogram, sla
from windows.calendar import BusinessCalendar, business_ms
from windows.config import KpiConfig
from windows.events import (
    COMPLETE_TYPES,
    DIMENSIONS,
    FCR_BREAKING_TYPES,
    HANDOFF,
    MESSAGE_TYPES,
    OTHER,
    PAUSING_STATUSES,
    START_TYPES,
    STATUS_CHANGED,
    UNKNOWN,
    Event,
)
from windows.policies import SlaPolicy

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
            if _is_human_reply(e, cfg):
                agent = e.agent_id if e.agent_id in cfg.agent_allowlist else OTHER
                break
    dims["agent"] = agent
    return dims


def _is_human_reply(e: Event, cfg: KpiConfig) -> bool:
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
    if any(_is_human_reply(e, cfg) for e in ordered):
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


def fold(events: Sequence[Event], folded: Folded | None, cfg: KpiConfig
         ) -> tuple[list[Event], Folded | None]:
    """Bound a long conversation's state: past ``cfg.max_conversation_events`` events, the
    older half is folded (pure).

    Every KPI but response time needs only a few of a conversation's messages: the first
    two human replies (first response, FCR, abandonment), the first after a handoff, and
    the earliest giving each label. Those and every other event type are kept; the other
    messages of the older half only pair customer messages with replies, so they are
    summarized by where that pairing stands at the boundary (:class:`Folded`), and their
    response times, already in the buckets, are left there. The writer drops as late any
    event that would sort into the folded part (it could not be placed exactly). Returns
    the events to keep and the new summary (both unchanged when under the cap). The labels
    are frozen at the first fold (see :func:`conversation_dims`)."""
    cap = cfg.max_conversation_events
    if not cap or len(events) <= cap:
        return list(events), folded
    ordered = sorted(events, key=Event.sort_key)
    keep_n = max(1, cap // 2)
    prefix, tail = ordered[:-keep_n], ordered[-keep_n:]
    pending = _pairing(prefix, cfg, folded)[1]
    keep = _kept_messages(ordered, cfg)
    kept = [e for e in prefix if e.type not in MESSAGE_TYPES or e.event_id in keep]
    dims = tuple(sorted(conversation_dims(ordered, cfg, folded).items()))
    return kept + tail, Folded(prefix[-1].sort_key(), pending, dims)


def _kept_messages(ordered: Sequence[Event], cfg: KpiConfig) -> set[str]:
    """Ids of the messages the KPIs other than response time read (see :func:`fold`): also
    each agent's first reply (one participating teammate) and the first customer message
    after the first reply (no customer interaction after the first contact)."""
    replies = [e for e in ordered if _is_human_reply(e, cfg)]
    keep = {e.event_id for e in replies[:2]}
    agents: dict[str | None, str] = {}
    for e in replies:
        agents.setdefault(e.agent_id, e.event_id)
    keep |= set(agents.values())
    if replies:
        follow_up = next((e for e in ordered if e.type in MESSAGE_TYPES
                          and e.actor == "customer" and e.sort_key() > replies[0].sort_key()),
                         None)
        if follow_up is not None:
            keep.add(follow_up.event_id)
    # the customer message that ends each pause (the SLA clocks restart there)
    for e in ordered:
        if e.type == STATUS_CHANGED and e.status in PAUSING_STATUSES:
            answer = next((m for m in ordered if m.type in MESSAGE_TYPES
                           and m.actor == "customer" and m.sort_key() > e.sort_key()), None)
            if answer is not None:
                keep.add(answer.event_id)
    handoffs = [e for e in ordered if e.type == "chat.handoff"]
    if handoffs:
        after = [e for e in replies if e.t_ms >= handoffs[0].t_ms]
        keep |= {e.event_id for e in after[:1]}
    for d in DIMENSIONS:
        first = next((e for e in ordered if getattr(e, d)), None)
        if first is not None:
            keep.add(first.event_id)
    return keep


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
        _inc(out, done_t, "fcr_d")
        fcr = FCR_RULES[cfg.fcr_definition](before, replies, reopened)
        _inc(out, done_t, "fcr_n", 1 if fcr else 0)
    elif c.entry is not None and c.entry <= done_t:
        _inc(out, done_t, "abandoned")
    if c.is_chat:
        _inc(out, done_t, "chat_done")
        handed_off = any(e.type == HANDOFF for e in before)
        _inc(out, done_t, "bot_contained", 0 if handed_off or replies else 1)


def _fcr_project(before: Sequence[Event], replies: Sequence[Event], reopened: bool) -> bool:
    """This project's default: one human reply, no escalation to another tier or team, no
    reopen within the reopen window."""
    breaking = any(e.type in FCR_BREAKING_TYPES for e in before)
    return len(replies) == 1 and not breaking and not reopened


def _fcr_one_touch(before: Sequence[Event], replies: Sequence[Event], reopened: bool) -> bool:
    """Zendesk's one-touch ticket: solved with exactly one agent reply."""
    return len(replies) == 1


def _fcr_one_teammate(before: Sequence[Event], replies: Sequence[Event],
                      reopened: bool) -> bool:
    """Intercom's one participating teammate: every reply from the same agent."""
    return len({e.agent_id for e in replies}) == 1


def _fcr_no_follow_up(before: Sequence[Event], replies: Sequence[Event],
                      reopened: bool) -> bool:
    """Freshservice's first contact resolution: no customer interaction after the first
    contact (the first human reply) until resolved."""
    first = replies[0].sort_key()
    return not any(e.type in MESSAGE_TYPES and e.actor == "customer"
                   and e.sort_key() > first for e in before)


FCR_RULES = {
    "project": _fcr_project,
    "zendesk_one_touch": _fcr_one_touch,
    "intercom_one_teammate": _fcr_one_teammate,
    "freshservice": _fcr_no_follow_up,
}


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
    earliest of its targets running now (:func:`windows.sla.running`)."""
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


def cap_dims(dims: Mapping[str, str], admitted: Mapping[str, Set[str]] | None) -> dict[str, str]:
    """Map values outside the admitted set of their dimension to ``other``."""
    if admitted is None:
        return dict(dims)
    return {d: (v if d not in admitted or v in admitted[d] else OTHER) for d, v in dims.items()}


def dimension_key(dims: Mapping[str, str], dim_set: Sequence[str]) -> str:
    """Field prefix of one dimension combination: ``*`` for all, else ``queue=a,channel=b``."""
    if not dim_set:
        return "*"
    return ",".join(f"{d}={dims[d]}" for d in dim_set)


def parse_dimension_key(key: str) -> dict[str, str]:
    if key == "*":
        return {}
    return dict(part.split("=", 1) for part in key.split(","))


BucketDeltas = dict[tuple[int, int], dict[str, int]]
# what a batch accumulates: resolution → bucket start → stored field → increment (nested,
# so that adding an item builds no key tuple per resolution)
Deltas = dict[int, dict[int, dict[str, int]]]


def bucket_deltas(
    before: ConversationView | None,
    after: ConversationView,
    cfg: KpiConfig,
    admitted: Mapping[str, Set[str]] | None = None,
) -> BucketDeltas:
    """Per ``(bucket_ms, bucket_start)`` the field increments turning ``before`` into ``after``."""
    into: Deltas = {}
    add_bucket_deltas(into, before, after, cfg, admitted)
    return without_zeros({(res, start): fields for res, starts in into.items()
                          for start, fields in starts.items()})


def add_bucket_deltas(
    into: Deltas,
    before: ConversationView | None,
    after: ConversationView,
    cfg: KpiConfig,
    admitted: Mapping[str, Set[str]] | None = None,
) -> None:
    """Add to ``into`` the increments of :func:`bucket_deltas` (zeros may remain: a batch
    accumulates every conversation's share first and drops them once).

    When the (capped) labels did not change, the common case, the two contributions are
    compared item by item, so only the handful of items a new event changed are expanded
    into resolutions.
    """
    resolutions = cfg.resolutions_ms
    after_key = storage_key(after.dims, cfg, admitted)
    if before is None:
        _expand(into, after.items, after_key, 1, resolutions)
        return
    before_key = after_key if before.dims == after.dims else \
        storage_key(before.dims, cfg, admitted)
    if before_key != after_key:
        _expand(into, before.items, before_key, -1, resolutions)
        _expand(into, after.items, after_key, 1, resolutions)
        return
    old, new = before.items, after.items
    for item, n in new.items():
        m = old.get(item, 0)
        if n != m:
            _add(into, item[0], after_key + item[1], n - m, resolutions)
    for item, m in old.items():
        if m and item not in new:
            _add(into, item[0], after_key + item[1], -m, resolutions)


def storage_key(labels: tuple[tuple[str, str], ...], cfg: KpiConfig,
                admitted: Mapping[str, Set[str]] | None) -> str:
    """The field prefix a conversation's items are stored under: its stored dimension
    combination, values past the cap as ``other``, then ``|``."""
    return dimension_key(cap_dims(dict(labels), admitted), cfg.storage_dimensions) + "|"


def _expand(out: Deltas, items: Mapping[tuple[int, str], int], prefix: str, sign: int,
            resolutions: Sequence[int]) -> None:
    """Each item into its bucket of every resolution, under the stored dimension key."""
    for (t, metric), n in items.items():
        if n:
            _add(out, t, prefix + metric, sign * n, resolutions)


def _add(out: Deltas, t: int, field: str, n: int, resolutions: Sequence[int]) -> None:
    for res in resolutions:
        starts = out.get(res)
        if starts is None:
            starts = out[res] = {}
        start = t - t % res
        fields = starts.get(start)
        if fields is None:
            starts[start] = {field: n}
        else:
            fields[field] = fields.get(field, 0) + n


def without_zeros(deltas: BucketDeltas) -> BucketDeltas:
    """The buckets and fields that change (a retraction can cancel an increment)."""
    cleaned: BucketDeltas = {}
    for bucket, fields in deltas.items():
        nz = {f: n for f, n in fields.items() if n}
        if nz:
            cleaned[bucket] = nz
    return cleaned


def merge_bucket_deltas(into: BucketDeltas, more: BucketDeltas) -> None:
    for k, fields in more.items():
        target = into.setdefault(k, {})
        for f, n in fields.items():
            target[f] = target.get(f, 0) + n


# ---------------------------------------------------------------- read side


def _activity(fields: Mapping[str, float | None]) -> float:
    """How much a row has going on: created, completed, surveyed (window fields), or open
    and waiting (live rows); the rows a budget keeps first."""
    keys = ("vol_created", "done_n", "csat_n", "open", "waiting")
    return sum(float(fields.get(k) or 0) for k in keys)


def budget(rows: Mapping[str, Mapping[str, float | None]], max_rows: int) -> dict[str, str]:
    """Which rows a budget of ``max_rows`` folds, and into which ``other`` row.

    Dimension combinations are kept whole from the coarsest (the floor, then one
    dimension, then pairs) while they fit; in the first that does not, its busiest rows
    are kept and the rest fold into the combination's ``other`` row (every dimension
    ``other``, where the per-dimension value cap already puts overflow); the finer
    combinations after it keep only their ``other`` row. One row is reserved for each
    combination's ``other``, so the result never exceeds ``max_rows`` (nor the number of
    combinations)."""
    by_set: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for key in rows:
        by_set[tuple(parse_dimension_key(key))].append(key)
    sets = sorted(by_set, key=lambda ds: (len(ds), ds))
    left = max_rows
    folds: dict[str, str] = {}
    for i, ds in enumerate(sets):
        keys = sorted(by_set[ds], key=lambda k: (-_activity(rows[k]), k))
        room = left - (len(sets) - i - 1)
        if len(keys) <= room:
            left -= len(keys)
            continue
        other = dimension_key(dict.fromkeys(ds, OTHER), ds)
        kept = [k for k in keys if k != other][:max(0, room - 1)]
        for k in keys:
            if k not in kept:
                folds[k] = other
        left -= len(kept) + 1
    return folds


def fold_rows(raw: Mapping[str, Mapping[str, int]], max_rows: int
              ) -> tuple[dict[str, dict[str, int]], int]:
    """Window rows (bucket fields, all additive) within the budget: folded rows are summed
    into their ``other`` row. Returns the rows and how many were folded."""
    folds = budget(raw, max_rows)
    out = {k: dict(v) for k, v in raw.items() if k not in folds}
    for key, other in folds.items():
        target = out.setdefault(other, {})
        for f, n in raw[key].items():
            target[f] = target.get(f, 0) + n
    return out, sum(1 for k, v in folds.items() if k != v)


def fold_live(rows: Mapping[str, Mapping[str, float | None]], max_rows: int
              ) -> tuple[dict[str, dict[str, float | None]], int]:
    """Live-gauge rows within the budget: counts add up, the oldest waiting is the oldest."""
    folds = budget(rows, max_rows)
    out = {k: dict(v) for k, v in rows.items() if k not in folds}
    for key, other in folds.items():
        target = out.setdefault(other, {})
        for f, v in rows[key].items():
            old = target.get(f) or 0
            if f.startswith("oldest_waiting"):
                target[f] = max(old, v or 0)
            else:
                target[f] = old + (v or 0)
    return out, sum(1 for k, v in folds.items() if k != v)


def merge_fields(hashes: Iterable[Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Sum bucket hashes and split their fields by (stored) dimension key."""
    merged: dict[str, dict[str, int]] = defaultdict(dict)
    for h in hashes:
        for field, n in h.items():
            dimkey, _, metric = field.partition("|")
            d = merged[dimkey]
            d[metric] = d.get(metric, 0) + int(n)
    return merged


def roll_up(stored: Mapping[str, Mapping[str, int]],
            dimension_sets: Sequence[Sequence[str]]) -> dict[str, dict[str, int]]:
    """Rows of every configured dimension set, summed from the stored finest combination."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for dimkey, fields in stored.items():
        dims = parse_dimension_key(dimkey)
        for ds in dimension_sets:
            if any(d not in dims for d in ds):
                continue
            row = out[dimension_key(dims, ds)]
            for metric, n in fields.items():
                row[metric] = row.get(metric, 0) + n
    return out


def summarize(fields: Mapping[str, int]) -> dict[str, float | None]:
    """KPI values of one dimension combination in one window; ``None`` means absent.

    A ratio with no denominator is absent, never 0; a quantile of no samples is absent.
    Every value is declared in :mod:`windows.catalog`.
    """
    return catalog.summarize(fields)
