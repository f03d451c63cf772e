"""Bounded state for long conversations: past ``max_conversation_events`` the older half
of a conversation is folded into a summary that keeps every KPI but response time exact
(docs/architecture.md, "Long conversations")."""

from __future__ import annotations

from collections.abc import Sequence

from kpi.config import KpiConfig
from kpi.conversation import Folded, _pairing, conversation_dims, is_human_reply
from kpi.events import DIMENSIONS, MESSAGE_TYPES, PAUSING_STATUSES, STATUS_CHANGED, Event


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
    replies = [e for e in ordered if is_human_reply(e, cfg)]
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
