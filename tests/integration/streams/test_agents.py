"""The agents path through real Kafka, the real worker and real Redis: hand-worked agent
histories on /metrics and in ``query`` (live gauges, occupancy, handle time, the staffing
need), sent out of order and twice, across a worker restart.

Every expected value is worked out by hand from docs/kpis.md ("Agents and staffing"). Times
are seconds after ``a``, 30 minutes before the test starts; the staffing window is 15m.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from devtools.services import ServiceConfig
from tests.replay_check import cli, rows_from_json
from tests.support import WorkerProcess, parse, read_topic, sample, scrape, wait_for
from windows.keys import Keys

pytestmark = pytest.mark.integration


def agent_events(a: float) -> list[dict[str, object]]:
    def st(eid: str, agent: str, t: float, status: str, **kw: object) -> dict[str, object]:
        return {"event_id": eid, "type": "agent.status_changed", "agent_id": agent,
                "occurred_at": round(a + t, 3), "status": status, **kw}

    def c(eid: str, typ: str, agent: str, t: float, cid: str, **kw: object
          ) -> dict[str, object]:
        return {"event_id": eid, "type": f"agent.{typ}", "agent_id": agent,
                "occurred_at": round(a + t, 3), "conversation_id": cid, **kw}

    billing = {"queues": ["billing"], "team": "t1"}
    return [
        # ann: available, B1 from 1000 to 1300 + 60 s of wrap-up (handle 360 s), B2 open
        st("ann-1", "ann", 0, "available", **billing),
        c("ann-2", "contact_started", "ann", 1000, "B1", channel="email", queue="billing"),
        c("ann-3", "contact_ended", "ann", 1300, "B1"),
        c("ann-4", "wrapup_ended", "ann", 1360, "B1"),
        c("ann-5", "contact_started", "ann", 1500, "B2", channel="email", queue="billing"),
        # bob serves billing and vip: B3 handled 1100..1440 (340 s), B4 in wrap-up now
        st("bob-1", "bob", 0, "available", queues=["billing", "vip"], team="t1"),
        c("bob-2", "contact_started", "bob", 1100, "B3", channel="email", queue="billing"),
        c("bob-3", "contact_ended", "bob", 1200, "B3"),
        c("bob-4", "wrapup_ended", "bob", 1440, "B3"),
        c("bob-5", "contact_started", "bob", 1600, "B4", channel="email", queue="billing"),
        c("bob-6", "contact_ended", "bob", 1700, "B4"),
        # cid: a chat agent (3 at once), a break 1200..1250, one chat open since 1650
        st("cid-1", "cid", 0, "available", queues=["billing"], team="t2", capacity=3),
        st("cid-2", "cid", 1200, "away"),
        st("cid-3", "cid", 1250, "available"),
        c("cid-4", "contact_started", "cid", 1650, "C1", channel="chat", queue="billing"),
        # dan away since 1700; eve offline since 1000; fay available, idle
        st("dan-1", "dan", 0, "available", queues=["billing"], team="t2"),
        st("dan-2", "dan", 1700, "away"),
        st("eve-1", "eve", 0, "available", queues=["billing"], team="t2"),
        st("eve-2", "eve", 1000, "offline"),
        st("fay-1", "fay", 0, "available", **billing),
        # the returns queue ends closed (both agents offline), so its window values do not
        # move while the test reads them:
        # gus: available 0..600, R1 600..960 (ended 900, wrap-up to 960), available to
        # 1200, offline: productive 1200 s, handling 360 s
        st("gus-1", "gus", 0, "available", queues=["returns"], team="t3"),
        c("gus-2", "contact_started", "gus", 600, "R1", channel="email", queue="returns"),
        c("gus-3", "contact_ended", "gus", 900, "R1"),
        c("gus-4", "wrapup_ended", "gus", 960, "R1"),
        st("gus-5", "gus", 1200, "offline"),
        # hal: available 300..400, away to 700 (in neither), available to 800, R2 (chat)
        # 800..1000 ended by its wrap-up end alone, available to 1100, offline:
        # productive 100 + 100 + 200 + 100 = 500 s, handling 200 s
        st("hal-1", "hal", 300, "available", queues=["returns"], team="t3"),
        st("hal-2", "hal", 400, "away"),
        st("hal-3", "hal", 700, "available"),
        c("hal-4", "contact_started", "hal", 800, "R2", channel="chat", queue="returns"),
        c("hal-5", "wrapup_ended", "hal", 1000, "R2"),
        st("hal-6", "hal", 1100, "offline"),
    ]


def created(a: float) -> list[dict[str, object]]:
    """Six billing tickets created in the staffing window (the last 15 minutes)."""
    return [{"event_id": f"T{i}-1", "type": "ticket.created", "conversation_id": f"T{i}",
             "occurred_at": round(a + 950 + 60 * i, 3), "queue": "billing",
             "channel": "email"} for i in range(6)]


def produce(bootstrap: str, topic: str, key: str, events: list[dict[str, object]]) -> None:
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for ev in events:
        p.send(topic, key=str(ev[key]).encode(), value=json.dumps(ev).encode())
    p.flush()
    p.close()


def applied(bootstrap: str, port: int, topics: list[str]) -> bool:
    """Every message of ``topics`` applied: the store's offsets at the topics' ends."""
    s = parse(scrape(port))
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(t, p) for t in topics
               for p in sorted(c.partitions_for_topic(t) or ())]
        ends = c.end_offsets(tps)
    finally:
        c.close()
    return bool(tps) and all(
        end == 0 or sample(s, "support_applied_offset", topic=tp.topic,
                           partition=str(tp.partition)) == end - 1
        for tp, end in ends.items())


def live(port: int) -> dict[tuple[str, str, str], float]:
    """(metric, queue, team) → value of the agent and staffing gauges."""
    out = {}
    for (name, labels), v in parse(scrape(port)).items():
        d = dict(labels)
        if name.startswith(("support_agent", "support_staffing")) and "window" not in d:
            out[(name, d.get("queue", ""), d.get("team", ""))] = v
    return out


def check_live(port: int, available: int, on_contact: int, slots: int) -> None:
    g = live(port)
    # billing now: ann and cid on contact, bob in wrap-up, dan away, fay available, eve
    # offline; open slots: cid 3 − 1, fay 1 (ann and bob full, dan away)
    billing = {"online": 5, "available": available, "on_contact": on_contact,
               "after_contact_work": 1, "away": 1, "staffed": 4}
    for state, n in billing.items():
        assert g[(f"support_agents_{state}", "billing", "all")] == n, state
        assert g[(f"support_agents_{state}", "all", "all")] == n, state  # all serve billing
    assert g[("support_agent_open_slots", "billing", "all")] == slots
    # vip: only bob, in wrap-up; team t2: cid, dan, eve
    assert g[("support_agents_after_contact_work", "vip", "all")] == 1
    assert g[("support_agents_staffed", "vip", "all")] == 1
    assert g[("support_agents_online", "all", "t2")] == 2
    assert g[("support_agents_away", "all", "t2")] == 1
    assert g[("support_agents_online", "returns", "all")] == 0  # both offline: a row of 0
    # staffing, billing: 6 arrivals in 900 s, handle times 360 and 340 s (mean 350):
    # A = 6/900 × 350 = 2.333 erlangs; Erlang C at 80% within 20 s: 4 agents answer
    # 75.8%, 5 agents more than 80% → needed 5, staffed 4, gap 1
    assert g[("support_staffing_agents_needed", "billing", "all")] == 5
    assert g[("support_staffing_gap_agents", "billing", "all")] == 1
    assert g[("support_staffing_traffic_erlangs", "billing", "all")] == pytest.approx(7 / 3)
    assert g[("support_staffing_service_level_predicted", "billing", "all")] == \
        pytest.approx(0.758, abs=5e-4)
    assert g[("support_staffing_handled_contacts", "billing", "all")] == 2
    # returns: nothing arrived, nobody staffed: needed 0, gap 0
    assert g[("support_staffing_agents_needed", "returns", "all")] == 0
    # the floor: billing's 5 + returns' 0 against 4 staffed
    assert g[("support_staffing_gap_agents", "all", "all")] == 1


def check_windows(port: int) -> None:
    s = parse(scrape(port))

    def v(name: str, queue: str = "all", channel: str = "all") -> float | None:
        return sample(s, name, window="1h", queue=queue, channel=channel, team="all",
                      priority="all")

    # returns: handling 360 + 200, productive 1200 + 500
    assert v("support_agent_occupancy_ratio", "returns") == pytest.approx(560 / 1700)
    assert v("support_agent_productive_seconds", "returns") == pytest.approx(1700)
    # handle times: returns R1 360 s and R2 200 s; by channel email: R1, B1, B3
    assert v("support_handle_time_seconds_count", "returns") == 2
    assert v("support_handle_time_seconds_sum", "returns") == pytest.approx(560)
    assert v("support_handle_time_seconds_count", channel="email") == 3
    assert v("support_handle_time_seconds_sum", channel="email") == pytest.approx(1060)
    assert v("support_handle_time_seconds_count", "returns", "chat") == 1
    # the median of 360 and 200 by the nearest rank is 200 (within the histogram's 2%)
    q50 = sample(s, "support_handle_time_seconds", window="1h", queue="returns",
                 channel="all", team="all", priority="all", quantile="0.5")
    assert q50 == pytest.approx(200, rel=0.02)


@pytest.fixture
def agent_env(worker_env: dict[str, str]) -> dict[str, str]:
    return {**worker_env, "SUPPORT_STAFFING_MIN_CONTACTS": "2",
            "SUPPORT_GAUGE_DIMENSIONS": "all,queue,team"}


def test_agent_histories_on_metrics_and_query_across_a_restart(
        services: ServiceConfig, agent_env: dict[str, str], tmp_path: Path) -> None:
    env = agent_env
    port = int(env["SUPPORT_METRICS_PORT"])
    a = time.time() - 1800
    events = agent_events(a)
    # two sent twice, and two that cannot count (dead-lettered with their reason): a
    # status no schema knows, a conversation event on the agents topic
    bad = [{**events[0], "event_id": "bad-1", "status": "lunch"},
           {"event_id": "T9-1", "type": "ticket.created", "conversation_id": "T9",
            "agent_id": "ann", "occurred_at": round(a + 10, 3)}]
    shuffled = [*events, events[3], events[14], *bad]
    random.Random(7).shuffle(shuffled)  # and out of order
    topics = [env["SUPPORT_TOPIC_AGENTS"], env["SUPPORT_TOPIC_TICKETS"]]
    # an agent not written for longer than a key lives: its index entry goes
    client = redis.Redis.from_url(services.redis_url)
    index = [Keys(env["SUPPORT_KEY_PREFIX"]).of(f"{topics[0]}:{p}").agents for p in (0, 1)]
    for key in index:
        client.zadd(key, {"ghost": 1})
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: "support_events_processed_total" in scrape(port), 60, "/metrics")
        produce(services.bootstrap, topics[0], "agent_id", shuffled)
        produce(services.bootstrap, topics[1], "conversation_id", created(a))
        wait_for(lambda: applied(services.bootstrap, port, topics), 90, "events applied")
        check_live(port, available=1, on_contact=2, slots=3)
        check_windows(port)
        # each partition the agents were written to forgot the ghost
        members = [{m.decode() for m in client.zrange(key, 0, -1)} for key in index]
        assert any(m - {"ghost"} for m in members)
        assert all("ghost" not in m for m in members if m - {"ghost"}), members
        dlq = {json.loads(m.value)["event_id"]: dict(m.headers)
               for m in read_topic(services.bootstrap, env["SUPPORT_TOPIC_DLQ"])}
        assert {k: v["dlq.reason"].decode() for k, v in dlq.items()} == {
            "bad-1": "bad_status", "T9-1": "wrong_topic"}
        assert {v["dlq.topic"].decode() for v in dlq.values()} == {topics[0]}
        query = rows_from_json(cli({**os.environ, **env}, "query", "--window", "1h",
                                   "--json"))
        rows = next(iter(v for (_at, w), v in query.items() if w == "1h"))
        assert rows["queue=returns"]["occupancy_ratio"] == pytest.approx(560 / 1700)
        assert rows["queue=returns"]["handle_time_mean_seconds"] == pytest.approx(280)

        # a restart counts nothing twice; fay then takes a contact: 0 available, 3 on
        # contact, 2 open slots (cid's)
        worker.stop()
        worker = WorkerProcess(env, tmp_path / "worker2.log").start()
        wait_for(lambda: "support_events_processed_total" in scrape(port), 60, "restarted")
        produce(services.bootstrap, topics[0], "agent_id", [{
            "event_id": "fay-2", "type": "agent.contact_started", "agent_id": "fay",
            "occurred_at": round(a + 1750, 3), "conversation_id": "B5",
            "queue": "billing", "channel": "email"}])
        wait_for(lambda: applied(services.bootstrap, port, topics), 90, "fay's contact")
        check_live(port, available=0, on_contact=3, slots=2)
        check_windows(port)
        query = rows_from_json(cli({**os.environ, **env}, "query", "--json"))
        live_rows = next(v for (_at, w), v in query.items() if w == "live")
        assert live_rows["queue=billing"]["staffing_gap_agents"] == 1
        assert live_rows["queue=billing"]["agents_on_contact"] == 3
    finally:
        worker.stop()
