"""SLA policy targets of one conversation (pure): met or breached when fulfilled, and when
each target still running falls due.

A target's clock runs on the policy's clock (the queue's business calendar, or calendar
time) and, for next reply and resolution, stops while the ticket is pending on the
customer (schema v1.1 status changes). Resolution also stops while the ticket is solved:
a reopen restarts it where it stopped, and the sample moves from the first solve to the
next one (retracted like FCR). Each sample is placed at the event that fulfilled it, so a
window counts the targets met and breached by what happened inside it; a target that is
running is in the live gauges (its deadline drives *breaching* and *at risk*).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from kpi.calendar import BusinessCalendar, business_ms
from kpi.events import (
    COMPLETE_TYPES,
    MESSAGE_TYPES,
    PAUSING_STATUSES,
    STATUS_CHANGED,
    Event,
)
from kpi.policies import SlaPolicy

Span = tuple[int, int]
FOREVER = 2**62
Contribution = dict[tuple[int, str], int]


class Clock:
    """Elapsed time toward a target: business time on a calendar, else calendar time."""

    __slots__ = ("cal",)

    def __init__(self, cal: BusinessCalendar | None) -> None:
        self.cal = cal

    def span(self, a: int, b: int) -> int:
        if b <= a:
            return 0
        return b - a if self.cal is None else business_ms(self.cal, a, b)

    def add(self, a: int, left: int) -> int:
        due = self.cal.add_business(a, left) if self.cal is not None else None
        return due if due is not None else a + left


def _runs(a: int, b: int, stopped: Sequence[Span]) -> Iterator[Span]:
    """The parts of [a, b) outside the (sorted, disjoint) stopped spans."""
    t = a
    for s, e in stopped:
        if e <= t or s >= b:
            continue
        if s > t:
            yield t, min(s, b)
        t = max(t, e)
    if t < b:
        yield t, b


def elapsed(clock: Clock, a: int, b: int, stopped: Sequence[Span]) -> int:
    return sum(clock.span(s, e) for s, e in _runs(a, b, stopped))


def due(clock: Clock, a: int, target: int, stopped: Sequence[Span]) -> int:
    """When ``target`` of running time has passed since ``a``, the clock stopped in the
    ``stopped`` spans (all in the past: it runs on after the last)."""
    left, t = target, a
    for s, e in stopped:
        if e <= t:
            continue
        if s > t:
            have = clock.span(t, s)
            if have >= left:
                return clock.add(t, left)
            left -= have
        t = max(t, e)
    return clock.add(t, left)


def stopped_spans(ordered: Sequence[Event], resolution: bool) -> tuple[list[Span], bool]:
    """When the clocks stood still, merged and sorted, and whether they stand still now.

    Pending on the customer: from a status change to ``pending`` until a status change to
    anything else, a customer message (the customer answered: helpdesks reopen the ticket
    then), a completion or a reopen. For resolution also solved: from a completion until
    a reopen."""
    spans: list[Span] = []
    paused_at: int | None = None
    solved_at: int | None = None
    for e in ordered:
        ends_pause = (e.type == STATUS_CHANGED and e.status not in PAUSING_STATUSES) or (
            e.type in MESSAGE_TYPES and e.actor == "customer") or e.type in COMPLETE_TYPES \
            or e.type == "ticket.reopened"
        if paused_at is not None and ends_pause:
            spans.append((paused_at, e.t_ms))
            paused_at = None
        if e.type == STATUS_CHANGED and e.status in PAUSING_STATUSES and paused_at is None \
                and solved_at is None:
            paused_at = e.t_ms
        if resolution and e.type in COMPLETE_TYPES and solved_at is None:
            solved_at = e.t_ms
        elif resolution and e.type == "ticket.reopened" and solved_at is not None:
            spans.append((solved_at, e.t_ms))
            solved_at = None
    stopped_now = paused_at is not None or (resolution and solved_at is not None)
    for since in (paused_at, solved_at if resolution else None):
        if since is not None:  # still standing: to the end of time
            spans.append((since, FOREVER))
    merged: list[Span] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged, stopped_now


class Conversation:
    """What the SLA arithmetic needs of a conversation (derived in kpi.conversation; a plain
    class for the reason given at kpi.conversation.ConversationView)."""

    __slots__ = ("answers", "created_t", "is_open", "ordered", "pending", "reply_times")

    def __init__(self, ordered: Sequence[Event], created_t: int | None,
                 reply_times: Sequence[int], answers: Sequence[tuple[int, int]],
                 pending: int | None, is_open: bool) -> None:
        self.ordered = ordered
        self.created_t = created_t
        self.reply_times = reply_times  # human replies, in order
        # (reply time, oldest customer message it answers)
        self.answers = answers
        self.pending = pending  # the customer message still unanswered
        self.is_open = is_open


def _sample(out: Contribution, prefix: str, t: int, met: bool) -> None:
    for field, n in ((f"{prefix}_n", 1), (f"{prefix}_ok", int(met)), (f"{prefix}_bad",
                                                                       int(not met))):
        if n:
            out[(t, field)] = out.get((t, field), 0) + n


def contributions(out: Contribution, c: Conversation, policy: SlaPolicy, clock: Clock) -> None:
    """Met and breached per target, at the event that fulfilled it."""
    if c.created_t is None:
        return
    first = policy.target_ms("first_reply")
    if first is not None and c.reply_times:
        _sample(out, "slfr", c.reply_times[0], clock.span(c.created_t, c.reply_times[0]) <= first)
    nxt = policy.target_ms("next_reply")
    if nxt is not None and c.reply_times:
        stopped, _ = stopped_spans(c.ordered, resolution=False)
        for t, since in c.answers:
            if t > c.reply_times[0]:
                _sample(out, "slnr", t, elapsed(clock, since, t, stopped) <= nxt)
    res = policy.target_ms("resolution")
    if res is not None and not c.is_open:
        done = [e.t_ms for e in c.ordered if e.type in COMPLETE_TYPES]
        if done:
            stopped, _ = stopped_spans(c.ordered, resolution=True)
            last = done[-1]
            _sample(out, "slres", last, elapsed(clock, c.created_t, last, stopped) <= res)


def running(c: Conversation, policy: SlaPolicy, clock: Clock) -> dict[str, int]:
    """Each target whose clock runs now, with when it falls due."""
    out: dict[str, int] = {}
    if c.created_t is None or not c.is_open:
        return out
    first = policy.target_ms("first_reply")
    if first is not None and not c.reply_times:
        out["first_reply"] = clock.add(c.created_t, first)
    nxt = policy.target_ms("next_reply")
    if nxt is not None and c.reply_times and c.pending is not None \
            and c.pending > c.reply_times[0]:
        stopped, now_stopped = stopped_spans(c.ordered, resolution=False)
        if not now_stopped:
            out["next_reply"] = due(clock, c.pending, nxt, stopped)
    res = policy.target_ms("resolution")
    if res is not None:
        stopped, now_stopped = stopped_spans(c.ordered, resolution=True)
        if not now_stopped:
            out["resolution"] = due(clock, c.created_t, res, stopped)
    return out
