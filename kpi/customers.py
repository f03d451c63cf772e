"""The customer's view: repeat contacts, customer FCR, channel switching and contacts per
customer, as pure functions of one customer's contacts (docs/kpis.md, "Customers").

The main path knows conversations; it hands each identified conversation's *contact* (when
it started, on which channel, when it first completed, whether a human replied, and the
labels its other KPIs are stored under) to the customer path, keyed by the customer's
keyed hash (:mod:`streams.customers`). A customer's contacts are merged here and every
KPI is a function of the merged set, so the order in which they arrive (from different
partitions of the input topics) does not change the result, and a contact received twice
changes nothing: :func:`merge` is a join (commutative, associative, idempotent).

Each value is placed at the event time that completes its question: a completion's repeat
verdict at the completion (``rep_d``, ``rep_n``: like FCR, retracted when the repeat
arrives later), an episode's contact count at its first contact.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence

from kpi.config import KpiConfig
from kpi.conversation import ConversationView, is_human_reply
from kpi.events import COMPLETE_TYPES, START_TYPES, UNKNOWN, Event

# Contacts of one customer kept in its state: past it the oldest starts are dropped (a
# shared or placeholder id, "unknown@", would otherwise grow without bound)
MAX_CONTACTS = 500

# Stored fields (bucket hash fields, after the contact's dimension key)
COMPLETED = "rep_d"  # completed conversations of an identified customer
REPEATED = "rep_n"  # ... whose customer started another conversation within the window
SWITCHED = "rep_sw"  # ... that repeat on another channel than the completed one
FCR_ELIGIBLE = "cfcr_d"  # completed ones a human replied to (FCR's eligibility)
FCR_RESOLVED = "cfcr_n"  # ... with no repeat within the window
EPISODES = "cpc_n"  # first contacts: no contact of the customer in the window before
EPISODE_CONTACTS = "cpc_sm"  # contacts within the window from a first contact, x 1000


class Contact:
    """One conversation of a customer, as the main path last saw it (treated as
    immutable; a plain class for the reason :class:`kpi.events.Event` gives).

    ``rank`` orders what can change: the labels (``dimkey``, the conversation's stored
    dimension key with its trailing ``|``) and ``channel`` come from the contact with the
    highest rank, the times are minima and ``eligible`` is sticky. ``rank`` is the
    conversation's (newest event time, events seen), which only grows as events are
    added."""

    __slots__ = ("channel", "conversation_id", "dimkey", "done_ms", "eligible", "rank",
                 "start_ms")

    def __init__(self, conversation_id: str, start_ms: int, channel: str,
                 done_ms: int | None, eligible: bool, dimkey: str,
                 rank: tuple[int, int]) -> None:
        self.conversation_id = conversation_id
        self.start_ms = start_ms
        self.channel = channel
        self.done_ms = done_ms
        self.eligible = eligible
        self.dimkey = dimkey
        self.rank = rank

    def _fields(self) -> tuple[object, ...]:
        return (self.conversation_id, self.start_ms, self.channel, self.done_ms,
                self.eligible, self.dimkey, self.rank)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Contact) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return "Contact" + repr(self._fields())

    def to_row(self) -> list[object]:
        return [self.conversation_id, self.start_ms, self.channel, self.done_ms,
                1 if self.eligible else 0, self.dimkey, list(self.rank)]

    @classmethod
    def from_row(cls, row: Sequence[object]) -> Contact:
        cid, start, channel, done, eligible, dimkey, rank = row
        ranks: list[int] = [int(x) for x in rank]  # type: ignore[attr-defined]
        if len(ranks) != 2:
            raise ValueError("a contact's rank has two parts")
        return cls(str(cid), int(start), str(channel),  # type: ignore[call-overload]
                   None if done is None else int(done),  # type: ignore[call-overload]
                   bool(eligible), str(dimkey), (ranks[0], ranks[1]))


def contact_of(events: Sequence[Event], dims: Sequence[tuple[str, str]], dimkey: str,
               cfg: KpiConfig) -> tuple[str, Contact] | None:
    """A conversation's customer (the hash on its earliest event carrying one) and contact,
    from its events and labels; eligible as FCR counts it (a human reply up to the first
    completion). None without a customer or before its start event arrived."""
    customer: str | None = None
    first: tuple[int, int, str] | None = None
    start: int | None = None
    done: int | None = None
    newest = 0
    for e in events:
        key = e.sort_key()
        if e.customer is not None and (first is None or key < first):
            customer, first = e.customer, key
        if e.type in START_TYPES and (start is None or e.t_ms < start):
            start = e.t_ms
        elif e.type in COMPLETE_TYPES and (done is None or e.t_ms < done):
            done = e.t_ms
        newest = max(newest, e.t_ms)
    if customer is None or start is None:
        return None
    eligible = done is not None and any(e.t_ms <= done and is_human_reply(e, cfg)
                                        for e in events)
    channel = dict(dims).get("channel", UNKNOWN)
    cid = events[0].conversation_id
    return customer, Contact(cid, start, channel, done, eligible, dimkey,
                             (newest, len(events)))


def changed_contact(events: Sequence[Event], new_count: int,
                    before: ConversationView | None, after: ConversationView,
                    stored_key: Callable[[ConversationView], str], cfg: KpiConfig
                    ) -> tuple[str, Contact] | None:
    """The conversation's (customer, contact) when a batch that added its last
    ``new_count`` events changed it (the rank aside, which moves with every event)."""
    if before is not None and before.dims == after.dims \
            and not _may_change(events, new_count, cfg):
        return None
    now = contact_of(events, after.dims, stored_key(after), cfg)
    if now is None or before is None:
        return now
    was = contact_of(events[: len(events) - new_count], before.dims, stored_key(before), cfg)
    if was is not None and was[0] == now[0] and _fields(was[1]) == _fields(now[1]):
        return None
    return now


def _may_change(events: Sequence[Event], new_count: int, cfg: KpiConfig) -> bool:
    """Whether the batch's new events can change a contact whose labels did not change
    (most are messages before the completion, which change nothing of it): a start, a
    completion, a customer id, or a human reply up to a completion already known."""
    new = events[len(events) - new_count:]
    replies: list[int] = []
    for e in new:
        if e.type in START_TYPES or e.type in COMPLETE_TYPES or e.customer is not None:
            return True
        if is_human_reply(e, cfg):
            replies.append(e.t_ms)
    if not replies:
        return False
    done = min((e.t_ms for e in events if e.type in COMPLETE_TYPES), default=None)
    return done is not None and min(replies) <= done


def _fields(c: Contact) -> tuple[object, ...]:
    return (c.start_ms, c.channel, c.done_ms, c.eligible, c.dimkey)


def merge(a: Contact, b: Contact) -> Contact:
    """Two reports of one conversation as one (order-free: a join)."""
    newer = a if (a.rank, a.dimkey, a.channel) >= (b.rank, b.dimkey, b.channel) else b
    done = [t for t in (a.done_ms, b.done_ms) if t is not None]
    return Contact(a.conversation_id, min(a.start_ms, b.start_ms), newer.channel,
                   min(done) if done else None, a.eligible or b.eligible, newer.dimkey,
                   max(a.rank, b.rank))


def merge_all(known: Mapping[str, Contact], more: Iterable[Contact]) -> dict[str, Contact]:
    """A customer's contacts with ``more`` merged in, the newest :data:`MAX_CONTACTS`."""
    out = dict(known)
    for c in more:
        old = out.get(c.conversation_id)
        out[c.conversation_id] = c if old is None else merge(old, c)
    if len(out) > MAX_CONTACTS:
        kept = sorted(out.values(), key=_order)[-MAX_CONTACTS:]
        out = {c.conversation_id: c for c in kept}
    return out


def _order(c: Contact) -> tuple[int, str]:
    return (c.start_ms, c.conversation_id)


Items = dict[tuple[str, int, str], int]  # (dimension key, event time, field) -> count


def within_field(name: str, window: str) -> str:
    """The stored field of a repeat count kept within one repeat window: ``rep_n:1d``."""
    return f"{name}:{window}"


def customer_items(contacts: Iterable[Contact], repeat_ms: int, as_fcr: bool = False,
                   windows: Sequence[tuple[str, int]] = ()) -> Items:
    """What one customer's contacts contribute to the windows (see the module doc); with
    ``as_fcr`` (SUPPORT_FCR_DEFINITION=customer) customer FCR is FCR's own series too.

    ``windows`` (KpiConfig.repeat_shorter, each shorter than ``repeat_ms``) also keep
    each completion and its repeat verdict within each shorter repeat window, under
    :func:`within_field` names: the denominator too, so that a window's rate reads 0,
    not absent, where completions had no repeat within it."""
    ordered = sorted(contacts, key=_order)
    starts = [c.start_ms for c in ordered]
    items: Items = {}

    def add(dimkey: str, t: int, name: str, n: int = 1) -> None:
        key = (dimkey, t, name)
        items[key] = items.get(key, 0) + n

    for i, c in enumerate(ordered):
        if c.done_ms is not None:
            nxt = _next_contact(ordered, starts, c.done_ms, repeat_ms, i)
            add(c.dimkey, c.done_ms, COMPLETED)
            for window, ms in windows:
                add(c.dimkey, c.done_ms, within_field(COMPLETED, window))
                if nxt is not None and nxt.start_ms <= c.done_ms + ms:
                    add(c.dimkey, c.done_ms, within_field(REPEATED, window))
            if nxt is not None:
                add(c.dimkey, c.done_ms, REPEATED)
                if nxt.channel != c.channel:
                    add(c.dimkey, c.done_ms, SWITCHED)
            if c.eligible:
                for den, num in ((FCR_ELIGIBLE, FCR_RESOLVED), ("fcr_d", "fcr_n"))[
                        : 2 if as_fcr else 1]:
                    add(c.dimkey, c.done_ms, den)
                    if nxt is None:
                        add(c.dimkey, c.done_ms, num)
        if i == 0 or ordered[i - 1].start_ms < c.start_ms - repeat_ms:
            end = bisect.bisect_right(starts, c.start_ms + repeat_ms)
            add(c.dimkey, c.start_ms, EPISODES)
            add(c.dimkey, c.start_ms, EPISODE_CONTACTS, 1000 * (end - i))
    return items


def _next_contact(ordered: Sequence[Contact], starts: Sequence[int], done_ms: int,
                  repeat_ms: int, own: int) -> Contact | None:
    """The customer's first other conversation started after ``done_ms`` and at most
    ``repeat_ms`` after it (a conversation started before the completion, while this one
    was still open, is not a repeat of it)."""
    j = bisect.bisect_right(starts, done_ms)
    if j == own:  # only when it started after its own completion (a clock glitch)
        j += 1
    if j < len(ordered) and ordered[j].start_ms <= done_ms + repeat_ms:
        return ordered[j]
    return None


def item_changes(before: Items, after: Items) -> Items:
    """``after − before``, without zeros: what a batch adds to the buckets."""
    out: Items = {}
    for k, n in after.items():
        d = n - before.get(k, 0)
        if d:
            out[k] = d
    for k, m in before.items():
        if k not in after and m:
            out[k] = -m
    return out
