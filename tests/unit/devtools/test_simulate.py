from __future__ import annotations

from collections import Counter

from devtools import simulate as sim


def test_same_seed_same_history() -> None:
    p = sim.FloorParams(seed=3, rate_per_min=20)
    a = sim.generate(p, 0, 3_600_000)
    assert a == sim.generate(p, 0, 3_600_000)
    assert a != sim.generate(sim.FloorParams(seed=4, rate_per_min=20), 0, 3_600_000)


def test_history_is_a_realistic_floor() -> None:
    p = sim.FloorParams(seed=1, rate_per_min=30)
    evs = sim.generate(p, 0, 4 * 3_600_000, horizon_ms=2**62)
    types = Counter(str(e["type"]) for e in evs)
    starts = types["ticket.created"] + types["chat.started"]
    assert 30 * 60 * 4 * 0.8 < starts < 30 * 60 * 4 * 1.2
    for t in ("chat.handoff", "ticket.escalated", "ticket.reopened", "survey.csat",
              "chat.transferred", "survey.nps", "survey.ces"):
        assert types[t] > 0, t
    assert types["chat.handoff"] < types["chat.started"]
    assert all(evs[i]["occurred_at"] <= evs[i + 1]["occurred_at"]  # type: ignore[operator]
               for i in range(len(evs) - 1))


def test_surveys_follow_their_conversation_topic() -> None:
    evs = sim.generate(sim.FloorParams(seed=2, rate_per_min=10), 0, 3_600_000, horizon_ms=2**62)
    topic_of: dict[bytes, set[str]] = {}
    for topic, key, _ in sim.route(evs, "tickets", "chats"):
        topic_of.setdefault(key, set()).add(topic)
    assert all(len(v) == 1 for v in topic_of.values())


def test_live_covers_the_same_arrivals_in_time_order() -> None:
    p = sim.FloorParams(seed=5, rate_per_min=10)
    out = list(sim.live(p, 0, 1_200_000, chunk_ms=300_000))
    times = [float(e["occurred_at"]) for e in out]  # type: ignore[arg-type]
    assert times == sorted(times)
    assert len({e["event_id"] for e in out}) == len(out)
