"""The customer KPIs from their definitions (docs/kpis.md, "Customers"), worked by hand."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.config import KpiConfig, windows_from_text
from kpi.customers import (
    COMPLETED,
    EPISODE_CONTACTS,
    EPISODES,
    FCR_ELIGIBLE,
    FCR_RESOLVED,
    REPEATED,
    SWITCHED,
    Contact,
    changed_contact,
    contact_of,
    customer_items,
    item_changes,
    merge,
    merge_all,
)
from kpi.events import Event

H = 3_600_000
D = 24 * H
W = 7 * D
DK = "queue=billing|"
CFG = KpiConfig(windows=windows_from_text("1h"), customer_kpis=True)


def contact(cid: str, start: int, channel: str = "email", done: int | None = None,
            eligible: bool = True, dimkey: str = DK, rank: tuple[int, int] = (0, 1)
            ) -> Contact:
    return Contact(cid, start, channel, done, eligible, dimkey, rank)


def totals(items: dict[tuple[str, int, str], int]) -> dict[tuple[int, str], int]:
    """(time, field) → count, the dimension key dropped (one key in these cases)."""
    out: dict[tuple[int, str], int] = {}
    for (_dk, t, name), n in items.items():
        out[(t, name)] = out.get((t, name), 0) + n
    return out


def test_a_repeat_on_another_channel_and_a_later_first_contact() -> None:
    # c1 (email) completes at 2h; c2 (chat) starts a day in: c1 is repeated, on another
    # channel, so it is not resolved for the customer. c2 completes and nothing follows
    # within 7 days (c3 starts on day 10): c2 is not repeated. c3 starts a new episode.
    items = customer_items([contact("c1", 0, "email", 2 * H),
                            contact("c2", D, "chat", D + H),
                            contact("c3", 10 * D, "email")], W)
    assert totals(items) == {
        (2 * H, COMPLETED): 1, (2 * H, REPEATED): 1, (2 * H, SWITCHED): 1,
        (2 * H, FCR_ELIGIBLE): 1,
        (D + H, COMPLETED): 1, (D + H, FCR_ELIGIBLE): 1, (D + H, FCR_RESOLVED): 1,
        (0, EPISODES): 1, (0, EPISODE_CONTACTS): 2000,  # c1 and c2 within 7 days of c1
        (10 * D, EPISODES): 1, (10 * D, EPISODE_CONTACTS): 1000,
    }


def test_a_conversation_started_while_the_first_was_open_is_not_its_repeat() -> None:
    # c5 starts at 1h, before c4 completes at 5h: neither repeats the other
    items = customer_items([contact("c4", 0, done=5 * H), contact("c5", H, done=2 * H)], W)
    t = totals(items)
    assert (5 * H, REPEATED) not in t and (2 * H, REPEATED) not in t
    assert t[(5 * H, COMPLETED)] == 1 and t[(2 * H, COMPLETED)] == 1
    assert t[(0, EPISODE_CONTACTS)] == 2000  # one episode of two contacts


def test_the_window_edge_is_inclusive() -> None:
    at_edge = totals(customer_items([contact("a", 0, done=H), contact("b", H + W)], W))
    past = totals(customer_items([contact("a", 0, done=H), contact("b", H + W + 1)], W))
    assert at_edge[(H, REPEATED)] == 1
    assert (H, REPEATED) not in past and past[(H, FCR_RESOLVED)] == 1


def test_each_repeat_window_keeps_its_own_repeat_count() -> None:
    # SUPPORT_REPEAT_WINDOW=1d,7d: c1 completes at 2h and c2 starts 3 days in (a repeat
    # within 7d, not within 1d); c2 completes at 3d+1h and c3 starts 2 hours later (a
    # repeat within both). Each window counts both completions in its denominator; the
    # longest (7d) is the plain series, the shorter one its own.
    t = totals(customer_items([contact("c1", 0, done=2 * H),
                               contact("c2", 3 * D, done=3 * D + H),
                               contact("c3", 3 * D + 3 * H)], W, windows=(("1d", D),)))
    assert t[(2 * H, "rep_d:1d")] == t[(2 * H, COMPLETED)] == 1
    assert (2 * H, "rep_n:1d") not in t and t[(2 * H, REPEATED)] == 1
    assert t[(3 * D + H, "rep_n:1d")] == t[(3 * D + H, REPEATED)] == 1
    assert not any(name.endswith(":7d") for _t, name in t)
    fields: dict[str, int] = {}
    for (_t, name), n in t.items():
        fields[name] = fields.get(name, 0) + n
    from kpi import catalog

    row = catalog.summarize(fields)
    assert (row["repeat_ratio_within_1d"], row["repeat_ratio"]) == (1 / 2, 2 / 2)
    assert (row["repeat_contacts_within_1d"], row["repeat_contacts"]) == (1, 2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.one_of(st.none(), st.integers(0, 100))),
                max_size=12))
def test_a_window_counts_exactly_the_completions_followed_by_a_start_within_it(
        rows: list[tuple[int, int | None]]) -> None:
    windows = (("2h", 2 * H), ("1d", D), ("7d", W))
    cs = [contact(f"c{i}", s * H, done=None if d is None else (s + d) * H)
          for i, (s, d) in enumerate(rows)]
    t = customer_items(cs, W, windows=windows)
    for name, ms in windows:
        got = sum(n for (_dk, _t, f), n in t.items() if f == f"rep_n:{name}")
        # by the definition: another conversation of the customer started after the
        # completion and at most the window after it
        want = sum(1 for c in cs if c.done_ms is not None and any(
            o is not c and c.done_ms < o.start_ms <= c.done_ms + ms for o in cs))
        assert got == want, name


def test_not_eligible_completions_count_for_repeats_only() -> None:
    t = totals(customer_items([contact("bot", 0, done=H, eligible=False)], W))
    assert t == {(H, COMPLETED): 1, (0, EPISODES): 1, (0, EPISODE_CONTACTS): 1000}


def test_each_contact_counts_under_its_own_labels() -> None:
    items = customer_items([contact("a", 0, done=H, dimkey="queue=billing|"),
                            contact("b", 2 * H, done=3 * H, dimkey="queue=tech|")], W)
    assert items[("queue=billing|", H, REPEATED)] == 1
    assert items[("queue=tech|", 3 * H, COMPLETED)] == 1
    assert ("queue=tech|", 2 * H, EPISODES) not in items  # b is not a first contact


def test_a_repeat_arriving_later_retracts_the_resolution() -> None:
    first = [contact("a", 0, done=H)]
    before = customer_items(first, W)
    after = customer_items([*first, contact("b", 2 * D)], W)
    changes = totals(item_changes(before, after))
    assert changes == {(H, REPEATED): 1, (H, FCR_RESOLVED): -1, (0, EPISODE_CONTACTS): 1000}


def test_merge_keeps_the_earliest_times_and_the_newest_labels() -> None:
    open_ = contact("a", 100, "email", None, False, "queue=x|", (100, 1))
    later = contact("a", 100, "email", 500, True, "queue=y|", (500, 4))
    assert merge(open_, later) == merge(later, open_) == contact(
        "a", 100, "email", 500, True, "queue=y|", (500, 4))
    assert merge(later, later) == later


def test_contact_of_uses_the_customer_of_the_earliest_event_carrying_one() -> None:
    evs = [Event("e2", "ticket.message", 2_000, "t1", actor="agent", customer="bbb"),
           Event("e1", "ticket.created", 1_000, "t1", channel="email", customer="aaa"),
           Event("e3", "ticket.solved", 3_000, "t1")]
    got = contact_of(evs, (("channel", "email"),), DK, CFG)
    assert got == ("aaa", Contact("t1", 1_000, "email", 3_000, True, DK, (3_000, 3)))
    assert contact_of(evs[:1], (), DK, CFG) is None  # no start event yet
    anonymous = [Event("x", "ticket.created", 1, "t2")]
    assert contact_of(anonymous, (), DK, CFG) is None
    # the reply came after the solve: not eligible (FCR's rule)
    late = [evs[1], Event("e4", "ticket.created", 0, "t1", customer="aaa"),
            Event("e5", "ticket.solved", 1_500, "t1")]
    assert contact_of(late, (), DK, CFG)[1].eligible is False  # type: ignore[index]


def test_the_customer_fcr_definition_makes_it_fcrs_own_series() -> None:
    items = totals(customer_items([contact("a", 0, done=H), contact("b", 2 * D, done=3 * D)],
                                  W, as_fcr=True))
    assert items[(H, "fcr_d")] == 1 and (H, "fcr_n") not in items  # repeated: not FCR
    assert items[(3 * D, "fcr_d")] == items[(3 * D, "fcr_n")] == 1


def test_the_oldest_contacts_leave_past_the_cap() -> None:
    many = {f"c{i:04d}": contact(f"c{i:04d}", i) for i in range(600)}
    kept = merge_all({}, many.values())
    assert len(kept) == 500 and min(c.start_ms for c in kept.values()) == 100


reports = st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 20),
                             st.one_of(st.none(), st.integers(0, 30)), st.booleans(),
                             st.sampled_from(["queue=x|", "queue=y|"]),
                             st.integers(0, 50)), max_size=24)


@settings(max_examples=200, deadline=None)
@given(reports, st.randoms())
def test_arrival_order_and_duplicates_do_not_change_anything(rows: list, rnd: random.Random
                                                             ) -> None:
    cs = [contact(cid, s * H, "chat" if s % 2 else "email",
                  None if d is None else (s + d) * H, e, dk, (r, r))
          for cid, s, d, e, dk, r in rows]
    shuffled = cs + rnd.sample(cs, len(cs) // 2)  # some delivered twice
    rnd.shuffle(shuffled)
    one_go = merge_all({}, cs)
    state: dict[str, Contact] = {}
    total: dict[tuple[str, int, str], int] = {}
    for i in range(0, len(shuffled), 3):  # batch by batch, as the customer path applies
        after = merge_all(state, shuffled[i:i + 3])
        for k, n in item_changes(customer_items(state.values(), W),
                                 customer_items(after.values(), W)).items():
            total[k] = total.get(k, 0) + n
        state = after
    assert state == one_go
    expected = {k: n for k, n in customer_items(one_go.values(), W).items() if n}
    assert {k: n for k, n in total.items() if n} == expected


TYPES = ["ticket.created", "ticket.message", "ticket.message", "ticket.solved",
         "ticket.reopened", "ticket.escalated", "survey.csat"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(TYPES), st.integers(0, 50),
                          st.sampled_from(["agent", "customer", "bot"]),
                          st.sampled_from([None, None, "c1", "c2"]),
                          st.sampled_from([None, None, "billing", "tech"])),
                min_size=1, max_size=12),
       st.randoms())
def test_the_contacts_sent_batch_by_batch_end_at_the_whole_conversations(
        rows: list, rnd: random.Random) -> None:
    """The main path sends a contact only when a batch may change it (kpi.customers.
    _may_change skips most messages): merged, what it sent is what the whole conversation
    says, however its events were batched."""
    from kpi.conversation import evaluate
    from kpi.deltas import storage_key

    evs = [Event(f"e{i}", typ, t * 1000, "conv", actor=actor if "message" in typ else None,
                 customer=cust, queue=queue, score=4.0 if typ == "survey.csat" else None)
           for i, (typ, t, actor, cust, queue) in enumerate(rows)]
    rnd.shuffle(evs)
    seen: list[Event] = []
    before = None
    sent: dict[str, Contact] = {}
    while len(seen) < len(evs):
        k = rnd.randint(1, 3)
        batch = evs[len(seen):len(seen) + k]
        seen += batch
        after, _live = evaluate(seen, CFG)
        got = changed_contact(seen, len(batch), before, after,
                              lambda v: storage_key(v.dims, CFG, None), CFG)
        if got is not None:
            sent[got[0]] = merge(sent[got[0]], got[1]) if got[0] in sent else got[1]
        before = after
    after, _live = evaluate(evs, CFG)
    whole = contact_of(evs, after.dims, storage_key(after.dims, CFG, None), CFG)
    if whole is None:
        return
    customer, expected = whole
    assert customer in sent
    c = sent[customer]
    assert (c.start_ms, c.channel, c.done_ms, c.eligible, c.dimkey) == (
        expected.start_ms, expected.channel, expected.done_ms, expected.eligible,
        expected.dimkey)
