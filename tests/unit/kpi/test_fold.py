"""Bounded conversation state: folding a long conversation's older messages leaves every
window exactly where the whole history puts it, and its live state unchanged."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.config import KpiConfig, windows_from_text
from kpi.conversation import ConversationView, Folded, contributions, live_state
from kpi.deltas import bucket_deltas, merge_bucket_deltas
from kpi.events import Event
from kpi.fold import fold

CFG = KpiConfig(windows=windows_from_text("5m,1h"), frt_sla_ms=120_000,
                max_conversation_events=8, agent_allowlist=frozenset({"a1"}))
TYPES = ["chat.message"] * 6 + ["chat.handoff", "chat.transferred", "chat.ended",
                                "survey.csat", "ticket.reopened"]


@st.composite
def long_chat(draw: st.DrawFn) -> list[Event]:
    n = draw(st.integers(2, 60))
    out = [Event("0", "chat.started", 0, "c", channel="chat", queue=draw(
        st.sampled_from(["a", None])))]
    for i in range(1, n):
        typ = draw(st.sampled_from(TYPES))
        kw: dict[str, object] = {}
        if typ == "chat.message":
            kw["actor"] = draw(st.sampled_from(["agent", "customer", "customer", "bot"]))
            kw["agent_id"] = draw(st.sampled_from(["a1", "a2"])) if kw["actor"] == "agent" else None
            kw["priority"] = draw(st.sampled_from([None, None, None, "high"]))
        if typ == "survey.csat":
            kw["score"] = draw(st.integers(1, 5))
        out.append(Event(str(i), typ, draw(st.integers(0, 600_000)), "c", **kw))  # type: ignore[arg-type]
    return out


def _writer_like(arrivals: list[Event], cfg: KpiConfig) -> tuple[
        dict[tuple[int, int], dict[str, int]], list[Event], Folded | None, list[Event]]:
    """What the writer does, a few events per batch: the delta between the view before
    and after each batch, then the fold. Returns the buckets, the kept state, the fold and
    the events accepted (an event sorting into the folded part is dropped as late)."""
    buckets: dict[tuple[int, int], dict[str, int]] = {}
    state: list[Event] = []
    folded: Folded | None = None
    before: ConversationView | None = None
    accepted: list[Event] = []
    for i in range(0, len(arrivals), 3):
        batch = [e for e in arrivals[i:i + 3]
                 if folded is None or e.sort_key() > folded.boundary]
        if not batch:
            continue
        accepted += batch
        state = state + batch
        after = contributions(state, cfg, folded)
        merge_bucket_deltas(buckets, bucket_deltas(before, after, cfg))
        state, folded = fold(state, folded, cfg)
        before = contributions(state, cfg, folded)
    return ({k: {f: n for f, n in v.items() if n} for k, v in buckets.items()
             if any(v.values())}, state, folded, accepted)


def _all_at_once(events: list[Event], cfg: KpiConfig, folded: Folded | None = None
                 ) -> dict[tuple[int, int], dict[str, int]]:
    """Every event at once; under the labels the fold froze, when it folded."""
    labels = None if folded is None else Folded((-1, 0, ""), None, folded.dims)
    deltas = bucket_deltas(None, contributions(events, cfg, labels), cfg)
    return {k: v for k, v in deltas.items() if v}


@settings(max_examples=300, deadline=None)
@given(long_chat(), st.randoms(use_true_random=False))
def test_folding_changes_no_window_and_no_live_state(evs: list[Event],
                                                     rnd: random.Random) -> None:
    arrivals = sorted(evs, key=Event.sort_key)
    # a little disorder, as a stream has it (what would sort into the folded part is late)
    for _ in range(len(arrivals) // 4):
        i = rnd.randrange(len(arrivals) - 1)
        arrivals[i], arrivals[i + 1] = arrivals[i + 1], arrivals[i]
    buckets, state, folded, accepted = _writer_like(arrivals, CFG)
    assert buckets == _all_at_once(accepted, CFG, folded)
    labels = None if folded is None else Folded((-1, 0, ""), None, folded.dims)
    assert live_state(state, CFG, folded) == live_state(accepted, CFG, labels)
    # kept messages: two replies, each agent's first (two agents here), the first after
    # the handoff, the first customer follow-up, one per label; then the tail
    assert len(state) <= max(CFG.max_conversation_events,
                             sum(1 for e in accepted if e.type != "chat.message") + 10)


def test_a_long_chat_keeps_a_bounded_state_and_its_numbers() -> None:
    evs = [Event("0", "chat.started", 0, "c", channel="chat", queue="billing")]
    for i in range(1, 5000):
        actor = "customer" if i % 2 else "agent"
        evs.append(Event(str(i), "chat.message", i * 1000, "c", actor=actor,
                         agent_id="a1" if actor == "agent" else None))
    buckets, state, folded, accepted = _writer_like(evs, CFG)
    assert len(accepted) == 5000 and folded is not None
    assert len(state) <= CFG.max_conversation_events + 3
    assert buckets == _all_at_once(evs, CFG)
    resp = sum(n for (_r, _s), f in buckets.items() for k, n in f.items()
               if "|resp_h:" in k) // len(CFG.resolutions_ms)  # the bins count samples
    assert resp == 2499  # every customer message answered once, folded or not


def test_labels_are_frozen_at_the_first_fold() -> None:
    """A label first given after the fold (here the priority) would leave the folded
    response times under the old labels: the conversation keeps the labels it was folded
    with, for all of its numbers (the oracle, which keeps everything, would relabel)."""
    cfg = dataclasses.replace(CFG, dimension_sets=((), ("priority",)))
    evs = [Event("0", "chat.started", 0, "c", channel="chat", queue="a")]
    for i in range(1, 30):
        actor = "customer" if i % 2 else "agent"
        evs.append(Event(str(i), "chat.message", i * 1000, "c", actor=actor,
                         priority="high" if i == 25 else None))
    buckets, _state, folded, accepted = _writer_like(evs, cfg)
    assert folded is not None and dict(folded.dims)["priority"] == "unknown"
    assert buckets == _all_at_once(accepted, cfg, folded)
    assert not any("priority=high" in f for fields in buckets.values() for f in fields)


def test_an_event_older_than_the_folded_part_cannot_be_placed_and_is_late() -> None:
    evs = [Event(str(i), "chat.message", 1000 + i, "c", actor="customer") for i in range(20)]
    _state, folded = fold(evs, None, CFG)
    assert folded is not None and folded.boundary == evs[-5].sort_key()
    straggler = Event("late", "chat.message", 1000, "c", actor="customer")
    assert straggler.sort_key() <= folded.boundary
    assert fold(evs[:5], None, CFG) == (evs[:5], None)  # under the cap: untouched
