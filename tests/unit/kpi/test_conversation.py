"""KPI arithmetic: every KPI against a value worked out by hand from its definition."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from kpi import histogram
from kpi.config import KpiConfig, windows_from_text
from kpi.conversation import contributions
from kpi.deltas import bucket_deltas, merge_bucket_deltas
from kpi.events import Event
from kpi.rows import roll_up, summarize

CFG = KpiConfig(windows=windows_from_text("5m,15m,1h,24h"), frt_sla_ms=120_000)
S = 1000  # ms per second


def ev(eid: str, typ: str, t_s: float, cid: str = "c1", **kw: object) -> Event:
    return Event(event_id=eid, type=typ, t_ms=int(t_s * S), conversation_id=cid, **kw)  # type: ignore[arg-type]


def totals(events: list[Event], cfg: KpiConfig = CFG) -> Counter[str]:
    """Metric totals of a conversation, ignoring time placement."""
    out: Counter[str] = Counter()
    for (_t, metric), n in contributions(events, cfg).items.items():
        out[metric] += n
    return out


def samples(fields: Counter[str], prefix: str) -> int:
    """A duration's sample count: the sum of its histogram bins (no count is stored)."""
    assert f"{prefix}_n" not in fields, "durations store no count field"
    return sum(n for f, n in fields.items() if f.startswith(f"{prefix}_h:"))


def summary(events_by_conv: list[list[Event]], cfg: KpiConfig = CFG) -> dict[str, float | None]:
    fields: Counter[str] = Counter()
    for evs in events_by_conv:
        fields.update(totals(evs, cfg))
    return summarize(fields)


def test_first_response_counts_only_human_agents() -> None:
    evs = [
        ev("1", "chat.started", 0, channel="chat", queue="billing"),
        ev("2", "chat.message", 5, actor="bot"),
        ev("3", "chat.handoff", 20),
        ev("4", "chat.message", 30, actor="customer"),
        ev("5", "chat.message", 50, actor="agent"),
    ]
    t = totals(evs)
    assert samples(t, "frt") == 1 and t["frt_s"] == 50 * S
    assert t["sla_ok"] == 1 and t["sla_n"] == 1  # 50 s within the 120 s target
    bot_cfg = KpiConfig(windows=CFG.windows, count_bot_replies=True)
    assert totals(evs, bot_cfg)["frt_s"] == 5 * S


def test_first_response_attributed_at_reply_time() -> None:
    items = contributions([ev("1", "ticket.created", 100), ev("2", "ticket.message", 400,
                                                                  actor="agent")], CFG).items
    assert items[(400 * S, f"frt_h:{histogram.bin_of_ms(300 * S)}")] == 1
    assert items[(100 * S, "vol_created")] == 1


def test_sla_share() -> None:
    convs = [
        [ev("a1", "ticket.created", 0, "a"), ev("a2", "ticket.message", 60, "a", actor="agent")],
        [ev("b1", "ticket.created", 0, "b"), ev("b2", "ticket.message", 121, "b", actor="agent")],
        [ev("c1", "ticket.created", 0, "c"), ev("c2", "ticket.message", 120, "c", actor="agent")],
    ]
    s = summary(convs)
    assert s["frt_count"] == 3
    assert s["frt_sla_ratio"] == 2 / 3
    assert s["frt_mean_seconds"] == (60 + 121 + 120) / 3


def test_fcr_one_reply_no_escalation() -> None:
    evs = [ev("1", "ticket.created", 0), ev("2", "ticket.message", 60, actor="agent"),
           ev("3", "ticket.solved", 120)]
    t = totals(evs)
    assert (t["done_n"], t["fcr_n"], t["esc_n"]) == (1, 1, 0)
    assert samples(t, "res") == 1 and t["res_s"] == 120 * S


def test_fcr_broken_by_second_human_reply() -> None:
    evs = [ev("1", "ticket.created", 0), ev("2", "ticket.message", 60, actor="agent"),
           ev("3", "ticket.message", 70, actor="customer"),
           ev("4", "ticket.message", 80, actor="agent"), ev("5", "ticket.solved", 120)]
    assert totals(evs)["fcr_n"] == 0


def test_fcr_retracted_by_reopen_within_window_only() -> None:
    base = [ev("1", "ticket.created", 0), ev("2", "ticket.message", 60, actor="agent"),
            ev("3", "ticket.solved", 100)]
    assert totals([*base, ev("4", "ticket.reopened", 200)])["fcr_n"] == 0
    late = 100 + CFG.reopen_window_ms / S + 1
    t = totals([*base, ev("4", "ticket.reopened", late)])
    assert t["fcr_n"] == 1 and t["vol_reopened"] == 1


def test_escalation_without_human_reply_counts_for_escalation_not_fcr() -> None:
    evs = [ev("1", "ticket.created", 0), ev("2", "ticket.escalated", 30),
           ev("3", "ticket.solved", 90)]
    t = totals(evs)
    assert t["esc_n"] == 1 and t["fcr_n"] == 0 and samples(t, "frt") == 0


def test_handoff_is_an_escalation_only_when_configured_and_never_breaks_fcr() -> None:
    evs = [ev("1", "chat.started", 0), ev("2", "chat.handoff", 10),
           ev("3", "chat.message", 20, actor="agent"), ev("4", "chat.ended", 40)]
    t = totals(evs)
    assert t["esc_n"] == 0 and t["fcr_n"] == 1 and t["handoff_n"] == 1
    assert t["vol_escalated"] == 0
    with_handoffs = KpiConfig(windows=CFG.windows, escalation_includes_handoffs=True)
    t = totals(evs, with_handoffs)
    assert t["esc_n"] == 1 and t["fcr_n"] == 1 and t["vol_escalated"] == 1


def test_transfer_breaks_fcr() -> None:
    evs = [ev("1", "chat.started", 0), ev("2", "chat.message", 20, actor="agent"),
           ev("3", "chat.transferred", 30), ev("4", "chat.ended", 40)]
    t = totals(evs)
    assert t["esc_n"] == 1 and t["fcr_n"] == 0


def test_escalation_after_completion_is_not_counted_for_that_completion() -> None:
    evs = [ev("1", "ticket.created", 0), ev("2", "ticket.solved", 50),
           ev("3", "ticket.reopened", 60), ev("4", "ticket.escalated", 70)]
    t = totals(evs)
    assert t["esc_n"] == 0 and t["vol_escalated"] == 1


def test_resolution_uses_first_solve_and_counts_each_solve_as_volume() -> None:
    evs = [ev("1", "ticket.created", 0), ev("2", "ticket.solved", 50),
           ev("3", "ticket.reopened", 60), ev("4", "ticket.solved", 500)]
    t = totals(evs)
    assert samples(t, "res") == 1 and t["res_s"] == 50 * S
    assert t["done_n"] == 1 and t["vol_solved"] == 2


def test_csat_nps_ces() -> None:
    convs = [
        [ev("1", "survey.csat", 10, "a", score=5), ev("2", "survey.csat", 11, "a", score=4)],
        [ev("3", "survey.csat", 10, "b", score=3), ev("4", "survey.csat", 12, "b", score=1)],
        [ev("5", "survey.nps", 10, "c", score=10), ev("6", "survey.nps", 10, "d", score=9),
         ev("7", "survey.nps", 10, "e", score=7), ev("8", "survey.nps", 10, "f", score=3)],
        [ev("9", "survey.ces", 10, "g", score=2), ev("10", "survey.ces", 10, "h", score=5)],
    ]
    s = summary(convs)
    assert s["csat_responses"] == 4 and s["csat_ratio"] == 0.5
    assert s["csat_mean"] == (5 + 4 + 3 + 1) / 4
    assert s["nps_score"] == 100 * (2 - 1) / 4
    assert s["ces_mean"] == 3.5


def test_ratios_without_denominator_are_absent() -> None:
    s = summarize({})
    for key in ("fcr_ratio", "escalation_ratio", "csat_ratio", "nps_score", "ces_mean",
                "frt_mean_seconds", "frt_p90_seconds", "frt_sla_ratio"):
        assert s[key] is None, key


def test_survey_without_conversation_is_counted_with_unknown_labels() -> None:
    view = contributions([ev("1", "survey.csat", 10, score=5)], CFG)
    assert dict(view.dims)["queue"] == "unknown"
    assert view.items[(10 * S, "csat_pos")] == 1


def test_labels_come_from_the_start_event_even_when_it_arrives_last() -> None:
    evs = [ev("2", "ticket.message", 10, actor="agent", queue="wrong"),
           ev("1", "ticket.created", 0, queue="billing", channel="email")]
    dims = dict(contributions(evs, CFG).dims)
    assert dims["queue"] == "billing" and dims["channel"] == "email"


def test_percentiles_of_a_known_sample() -> None:
    frts = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    convs = [[ev(f"{i}a", "ticket.created", 0, f"c{i}"),
              ev(f"{i}b", "ticket.message", f, f"c{i}", actor="agent")]
             for i, f in enumerate(frts)]
    s = summary(convs)
    # nearest rank: p50 = 5th value = 50 s, p90 = 9th = 90 s, within the stated 2%
    assert abs(s["frt_p50_seconds"] - 50) <= 50 * histogram.RELATIVE_ERROR  # type: ignore[operator]
    assert abs(s["frt_p90_seconds"] - 90) <= 90 * histogram.RELATIVE_ERROR  # type: ignore[operator]
    assert s["frt_mean_seconds"] == 55
    assert s["frt_count"] == 10


def test_a_store_written_with_count_fields_reads_the_same() -> None:
    """Buckets written before durations dropped their ``_n`` field still hold it (always
    the sum of the bins): the count comes from the bins either way."""
    fields = {"frt_s": 120_000, f"frt_h:{histogram.bin_of_ms(30_000)}": 1,
              f"frt_h:{histogram.bin_of_ms(90_000)}": 1}
    assert summarize({**fields, "frt_n": 2}) == summarize(fields)
    assert summarize(fields)["frt_count"] == 2
    assert summarize(fields)["frt_mean_seconds"] == 60


# ----------------------------------------------------------- order independence

types = st.sampled_from(["ticket.message", "ticket.escalated", "ticket.solved",
                         "ticket.reopened", "survey.csat"])


@st.composite
def conversation(draw: st.DrawFn) -> list[Event]:
    n = draw(st.integers(1, 12))
    evs = [ev("0", "ticket.created", 0, queue=draw(st.sampled_from(["a", "b"])))]
    for i in range(1, n):
        typ = draw(types)
        t = draw(st.integers(0, 4000))
        extra: dict[str, object] = {}
        if typ == "ticket.message":
            extra["actor"] = draw(st.sampled_from(["agent", "customer", "bot"]))
        if typ == "survey.csat":
            extra["score"] = draw(st.integers(1, 5))
        evs.append(ev(str(i), typ, t, **extra))
    return evs


def _apply_incrementally(events: list[Event]) -> dict[tuple[int, int], dict[str, int]]:
    """What the writer does: one event at a time, applying before/after differences."""
    buckets: dict[tuple[int, int], dict[str, int]] = {}
    seen: list[Event] = []
    for e in events:
        before = contributions(seen, CFG) if seen else None
        seen.append(e)
        merge_bucket_deltas(buckets, bucket_deltas(before, contributions(seen, CFG),
                                                           CFG))
    return {k: {f: n for f, n in v.items() if n} for k, v in buckets.items()
            if any(v.values())}


@given(conversation(), st.randoms(use_true_random=False))
def test_any_arrival_order_gives_the_in_order_result(evs: list[Event], rnd: random.Random) -> None:
    in_order = _apply_incrementally(sorted(evs, key=Event.sort_key))
    shuffled = list(evs)
    rnd.shuffle(shuffled)
    assert _apply_incrementally(shuffled) == in_order
    assert contributions(shuffled, CFG) == contributions(evs, CFG)


def test_bucket_deltas_store_the_finest_combination_in_every_resolution() -> None:
    view = contributions([ev("1", "ticket.created", 61, queue="billing", channel="email")],
                             CFG)
    d = bucket_deltas(None, view, CFG)
    assert set(d) == {(5000, 60_000), (60000, 60_000), (1_440_000, 0)}
    assert d[(5000, 60_000)] == {"queue=billing,channel=email|vol_created": 1,
                                 "queue=billing,channel=email|queue_in": 1}


def test_every_dimension_set_is_a_roll_up_of_the_stored_one() -> None:
    stored = {"queue=a,channel=x": {"m": 1}, "queue=a,channel=y": {"m": 2},
              "queue=b,channel=x": {"m": 4}}
    rows = roll_up(stored, [(), ("queue",), ("channel",), ("queue", "channel")])
    assert rows["*"] == {"m": 7}
    assert rows["queue=a"] == {"m": 3} and rows["channel=x"] == {"m": 5}
    assert rows["queue=b,channel=x"] == {"m": 4}
