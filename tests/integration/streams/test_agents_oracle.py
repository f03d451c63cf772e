"""The agents path against the independent oracle (devtools/oracle_agents.py) on a
randomized floor, through real Kafka, the real worker and real Redis: live gauges,
occupancy, handle time and the staffing need from ``query --at T --json``, agent events
sent out of order and some twice."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from devtools import oracle_agents as oracle
from devtools.services import ServiceConfig
from tests.integration.streams.test_agents import applied, produce
from tests.replay_check import cli, rows_from_json
from tests.support import WorkerProcess, scrape, wait_for

pytestmark = pytest.mark.integration

QUEUES, TEAMS, CHANNELS = ("billing", "tech"), ("t1", "t2", "t3"), ("email", "chat")
STATUSES = ("available", "available", "available", "busy", "after_contact_work", "away",
            "offline")


def random_floor(rnd: random.Random, start: float, end: float) -> list[dict[str, object]]:
    """Eight agents, each a random walk of presence changes and contacts in [start, end)."""
    out: list[dict[str, object]] = []
    for n in range(8):
        agent, t, i, open_ = f"ag{n}", start + rnd.uniform(0, 300), 0, []
        while t < end:
            i += 1
            base = {"event_id": f"{agent}-{i}", "agent_id": agent, "occurred_at": round(t, 3)}
            kind = rnd.choice(("status", "start", "start", "end", "wrap"))
            if kind == "status":
                out.append({**base, "type": "agent.status_changed",
                            "status": rnd.choice(STATUSES),
                            **({"queues": rnd.sample(QUEUES, rnd.randint(1, 2))}
                               if rnd.random() < 0.3 else {}),
                            **({"team": rnd.choice(TEAMS)} if rnd.random() < 0.3 else {}),
                            **({"capacity": rnd.randint(1, 3)} if rnd.random() < 0.2 else {})})
            elif kind == "start" or not open_:
                cid = f"{agent}-c{i}"
                open_.append(cid)
                out.append({**base, "type": "agent.contact_started", "conversation_id": cid,
                            "channel": rnd.choice(CHANNELS), "queue": rnd.choice(QUEUES)})
            else:
                out.append({**base, "conversation_id": rnd.choice(open_),
                            "type": "agent.contact_ended" if kind == "end"
                            else "agent.wrapup_ended"})
            t += rnd.expovariate(1 / 90)
    return out


def tickets(rnd: random.Random, start: float, end: float) -> list[dict[str, object]]:
    return [{"event_id": f"T{i}-1", "type": "ticket.created", "conversation_id": f"T{i}",
             "occurred_at": round(rnd.uniform(start, end), 3), "queue": rnd.choice(QUEUES),
             "channel": "email"} for i in range(60)]


def canon(rows: dict[str, dict]) -> dict[str, dict]:  # type: ignore[type-arg]
    """Rows keyed by their dimensions in name order (``query --json`` sorts them)."""
    return {",".join(sorted(dk.split(","))): row for dk, row in rows.items()}


def test_a_random_floor_agrees_with_the_oracle(services: ServiceConfig,
                                               worker_env: dict[str, str],
                                               tmp_path: Path) -> None:
    seed = int(time.time())
    rnd = random.Random(seed)
    env = {**worker_env, "SUPPORT_GAUGE_DIMENSIONS": "all,queue,team",
           "SUPPORT_STAFFING_MIN_CONTACTS": "3"}
    port = int(env["SUPPORT_METRICS_PORT"])
    now = time.time()
    start, end = now - 3000, now - 120
    agents, created = random_floor(rnd, start, end), tickets(rnd, start, end)
    sent = [*agents, *rnd.sample(agents, 10)]  # ten sent twice
    rnd.shuffle(sent)
    topics = [env["SUPPORT_TOPIC_AGENTS"], env["SUPPORT_TOPIC_TICKETS"]]
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: "support_events_processed_total" in scrape(port), 60, "/metrics")
        produce(services.bootstrap, topics[0], "agent_id", sent)
        produce(services.bootstrap, topics[1], "conversation_id", created)
        wait_for(lambda: applied(services.bootstrap, port, topics), 90, "events applied")
        at_ms = int((end + 60) * 1000)
        table = rows_from_json(cli({**os.environ, **env}, "query", "--window", "15m",
                                   "--window", "1h", "--at", str(at_ms / 1000), "--json"))
    finally:
        worker.stop()
    why = f"seed {seed}"
    live = next(v for (_at, w), v in table.items() if w == "live")
    gauges = canon(oracle.agent_gauges(agents, at_ms, ((), ("queue",), ("team",))))
    for dk, row in gauges.items():
        for k, n in row.items():
            assert live[dk][k] == n, (why, dk, k)
    for w, length in (("15m", 900_000), ("1h", 3_600_000)):
        rows = next(v for (_at, name), v in table.items() if name == w)
        want = canon(oracle.agent_windows(agents, at_ms - length, at_ms, at_ms,
                                          ((), ("queue",), ("channel",),
                                           ("queue", "channel"), ("team",))))
        for dk, o in want.items():
            got = rows.get(dk, {})
            if o.get("occupancy_ratio") is not None:
                assert got["occupancy_ratio"] == pytest.approx(o["occupancy_ratio"]), (why, dk)
            if o.get("handle_time_count"):
                assert got.get("handle_time_count") == o["handle_time_count"], (why, w, dk)
                assert got["handle_time_mean_seconds"] == pytest.approx(
                    o["handle_time_mean_seconds"]), (why, w, dk)
    lo = at_ms - 900_000
    per_queue = {q: sum(1 for c in created if c["queue"] == q
                        and lo <= float(c["occurred_at"]) * 1000 < at_ms) for q in QUEUES}
    need = oracle.staffing(agents, per_queue, lo, at_ms, at_ms, {},
                           {"service_level": 0.8, "answer_within_s": 20.0}, 3,
                           [at_ms - 3_600_000, at_ms - 86_400_000])
    checked = 0
    for dk, o in need.items():
        for k in ("staffing_agents_needed", "staffing_gap_agents"):
            assert live.get(dk, {}).get(k) == o.get(k), (why, dk, k)
            checked += o.get(k) is not None
    assert checked, why  # the floor had a need to compare
