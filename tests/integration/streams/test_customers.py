"""The customer path through real Kafka, the real worker and real Redis: a hand-worked floor
of repeat customers on /metrics and in ``query``, a restart that counts nothing twice, and
the raw customer ids nowhere (Redis, the customers topic, the log, /metrics).

Every expected value is worked out by hand from docs/kpis.md ("Customers"), with
SUPPORT_REPEAT_WINDOW=10m,20m: the repeat contact rate within each (label ``within``),
everything else within the longest, 20m.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from devtools.services import ServiceConfig
from tests.replay_check import cli, rows_from_json
from tests.support import (
    WorkerProcess,
    children,
    parse,
    read_topic,
    sample,
    scrape,
    wait_for,
)

pytestmark = pytest.mark.integration

ALICE, BOB, CAROL = "alice.repeat@example.com", 987654321, "carol-5e1f"
RAW_IDS = (ALICE, str(BOB), CAROL, "dave-77c1", "erin-90d4", "frank-old-31", "frank-new-32")
SECRET = "test-secret-0123456789abcdef"


def floor(now: float) -> list[dict[str, object]]:
    a = now - 2400  # 40 minutes ago: everything is inside the 1h window

    def e(eid: str, typ: str, t: float, cid: str, **kw: object) -> dict[str, object]:
        return {"event_id": eid, "type": typ, "occurred_at": round(t, 3),
                "conversation_id": cid, **kw}

    billing = {"queue": "billing", "channel": "email"}
    chat = {"queue": "live", "channel": "chat"}
    return [
        # Alice's repeat arrives first (out of order): C1 starts 8 minutes after T1 was
        # solved, on chat. T1 (email): completed, repeated within 20m, on another channel,
        # eligible but not resolved for the customer. C1: completed, eligible, resolved.
        e("C1-1", "chat.started", a + 600, "C1", customer_id=ALICE, **chat),
        e("C1-2", "chat.message", a + 620, "C1", actor="agent"),
        e("C1-3", "chat.ended", a + 700, "C1"),
        e("T1-1", "ticket.created", a, "T1", customer_id=ALICE, **billing),
        e("T1-2", "ticket.message", a + 60, "T1", actor="agent"),
        e("T1-3", "ticket.solved", a + 120, "T1"),
        # Bob (a numeric id): T2 solved at a+100; T3 starts at a+1900, 30 minutes later:
        # not a repeat. Two first contacts of one contact each.
        e("T2-1", "ticket.created", a, "T2", customer_id=BOB, **billing),
        e("T2-2", "ticket.message", a + 50, "T2", actor="agent"),
        e("T2-3", "ticket.solved", a + 100, "T2"),
        e("T3-1", "ticket.created", a + 1900, "T3", customer_id=BOB, **billing),
        # Carol: T5 starts at a+30 while T4 is open (not a repeat of T4); T5 is solved
        # without a human reply (a repeat candidate, not FCR-eligible)
        e("T4-1", "ticket.created", a, "T4", customer_id=CAROL, **billing),
        e("T4-2", "ticket.message", a + 60, "T4", actor="agent"),
        e("T4-3", "ticket.solved", a + 300, "T4"),
        e("T5-1", "ticket.created", a + 30, "T5", customer_id=CAROL, **billing),
        e("T5-2", "ticket.solved", a + 400, "T5"),
        # the window edge (20m): Dave's T8 starts exactly 20 minutes after T7 was solved
        # (a repeat), Erin's T10 a millisecond later (not one). Each is a first contact of
        # its own (nothing of the customer started in the 20 minutes before it).
        e("T7-1", "ticket.created", a + 100, "T7", customer_id="dave-77c1", **billing),
        e("T7-2", "ticket.message", a + 130, "T7", actor="agent"),
        e("T7-3", "ticket.solved", a + 160, "T7"),
        e("T8-1", "ticket.created", a + 160 + 1200, "T8", customer_id="dave-77c1", **billing),
        e("T9-1", "ticket.created", a + 100, "T9", customer_id="erin-90d4", **billing),
        e("T9-2", "ticket.message", a + 130, "T9", actor="agent"),
        e("T9-3", "ticket.solved", a + 160, "T9"),
        e("T10-1", "ticket.created", a + 160 + 1200.001, "T10", customer_id="erin-90d4",
          **billing),
        # merged customers: the helpdesk merged Frank's two requesters while T11 was open,
        # so T11's later events carry the surviving id. T11 stays the old id's (the
        # customer of its earliest event carrying one), and T12, started by the new id
        # 140 s after T11 was solved, is not its repeat: a merge does not join histories.
        e("T11-1", "ticket.created", a + 200, "T11", customer_id="frank-old-31", **billing),
        e("T11-2", "ticket.message", a + 220, "T11", actor="customer",
          customer_id="frank-new-32"),
        e("T11-3", "ticket.message", a + 230, "T11", actor="agent"),
        e("T11-4", "ticket.solved", a + 260, "T11", customer_id="frank-new-32"),
        e("T12-1", "ticket.created", a + 400, "T12", customer_id="frank-new-32", **billing),
        # no customer_id: in no customer KPI
        e("T6-1", "ticket.created", a, "T6", **billing),
        e("T6-2", "ticket.message", a + 10, "T6", actor="agent"),
        e("T6-3", "ticket.solved", a + 20, "T6"),
    ]


def produce(bootstrap: str, env: dict[str, str], events: list[dict[str, object]]) -> None:
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for ev in events:
        topic = env["SUPPORT_TOPIC_CHATS"] if str(ev["conversation_id"]).startswith("C") \
            else env["SUPPORT_TOPIC_TICKETS"]
        p.send(topic, key=str(ev["conversation_id"]).encode(), value=json.dumps(ev).encode())
    p.flush()
    p.close()


def synced(bootstrap: str, env: dict[str, str], port: int, events: int) -> bool:
    """Every event applied, and (their contacts being on the customers topic before their
    batch was applied) every contact too: the customer path's watermarks at the topic's
    end offsets."""
    s = parse(scrape(port))
    done = sum(v for (name, _), v in s.items() if name == "support_events_processed_total")
    if done != events:
        return False
    topic = env["SUPPORT_TOPIC_CUSTOMERS"]
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        ends = c.end_offsets(tps)
    finally:
        c.close()
    return all(end == 0 or sample(s, "support_applied_offset", topic=topic,
                                  partition=str(tp.partition)) == end - 1
               for tp, end in ends.items())


def check(port: int) -> None:
    s = parse(scrape(port))

    def v(name: str, queue: str = "all", **within: str) -> float | None:
        return sample(s, name, window="1h", queue=queue, channel="all", team="all",
                      priority="all", **within)

    # completed with a customer: T1, C1, T2, T4, T5, T7, T9, T11 (not T6); repeated within
    # 20m: T1, T7 (not T11: T12 is the merged id's); within 10m only T1 (C1 started 8
    # minutes after it, T8 20 after T7)
    assert v("support_customer_completed_conversations") == 8
    assert v("support_repeat_contact_conversations", within="20m") == 2
    assert v("support_repeat_contact_ratio", within="20m") == pytest.approx(2 / 8)
    assert v("support_repeat_contact_conversations", within="10m") == 1
    assert v("support_repeat_contact_ratio", within="10m") == pytest.approx(1 / 8)
    assert v("support_repeat_contact_ratio") is None  # every series says its window
    # eligible: T1, C1, T2, T4, T7, T9, T11 (T5 had no human reply); resolved for the
    # customer: C1, T2, T4, T9, T11
    assert v("support_customer_fcr_eligible_conversations") == 7
    assert v("support_customer_fcr_ratio") == pytest.approx(5 / 7)
    # SUPPORT_FCR_DEFINITION=customer: FCR's own series is customer FCR (T6, anonymous,
    # is in neither)
    assert v("support_fcr_ratio") == pytest.approx(5 / 7)
    assert v("support_fcr_eligible_conversations") == 7
    # T1's repeat came on chat, T7's on email again: 1 of 2 repeats switched channel
    assert v("support_repeat_channel_switch_ratio") == pytest.approx(1 / 2)
    # first contacts: T1 (+C1), T2, T3, T4 (+T5), T7, T8, T9, T10, T11 (the old id's),
    # T12 (the new id's): 12 contacts over 10
    assert v("support_customer_first_contacts") == 10
    assert v("support_contacts_per_customer_mean") == pytest.approx(12 / 10)
    # billing: T1, T2, T4, T5, T7, T9, T11 completed, T1 and T7 repeated (T1 within 10m)
    assert v("support_repeat_contact_ratio", "billing", within="20m") == pytest.approx(2 / 7)
    assert v("support_repeat_contact_ratio", "billing", within="10m") == pytest.approx(1 / 7)
    for w, k in (("10m", 1), ("20m", 2)):
        lower = v("support_repeat_contact_ratio_lower", within=w)
        upper = v("support_repeat_contact_ratio_upper", within=w)
        assert lower is not None and upper is not None and lower < k / 8 < upper


@pytest.fixture
def customer_env(worker_env: dict[str, str], ns: str) -> dict[str, str]:
    return {**worker_env, "SUPPORT_CUSTOMER_KPIS": "true", "SUPPORT_CUSTOMER_SECRET": SECRET,
            "SUPPORT_TOPIC_CUSTOMERS": f"{ns}.customers", "SUPPORT_REPEAT_WINDOW": "10m,20m",
            "SUPPORT_FCR_DEFINITION": "customer"}


@pytest.mark.parametrize("apart", ["true", "false"])
def test_repeat_customers_on_metrics_and_query_across_a_restart(
        services: ServiceConfig, customer_env: dict[str, str], ns: str,
        tmp_path: Path, apart: str) -> None:
    """With the customers agent in a process of its own (the default) and on the worker's
    event loop (SUPPORT_CUSTOMER_PROCESS=false): the same numbers."""
    env = {**customer_env, "SUPPORT_CUSTOMER_PROCESS": apart}
    port = int(env["SUPPORT_METRICS_PORT"])
    events = floor(time.time())
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: "support_events_processed_total" in scrape(port), 60, "/metrics")
        produce(services.bootstrap, env, events)
        wait_for(lambda: synced(services.bootstrap, env, port, len(events)), 90,
                 "events and contacts applied")
        check(port)
        query = rows_from_json(cli({**os.environ, **env}, "query", "--window", "1h",
                                   "--json"))
        row = next(iter(query.values()))["*"]
        assert row["repeat_ratio"] == pytest.approx(2 / 8)  # the longest window's
        assert row["repeat_ratio_within_10m"] == pytest.approx(1 / 8)  # the shorter one
        assert row["cfcr_ratio"] == pytest.approx(5 / 7)
        assert row["cpc_mean"] == pytest.approx(12 / 10)

        # a restart re-reads nothing twice; Bob's T3 is then solved 5 minutes after it
        # started with no later contact: one more completion, not repeated
        worker.stop()
        worker = WorkerProcess(env, tmp_path / "worker2.log").start()
        wait_for(lambda: "support_events_processed_total" in scrape(port), 60, "restarted")
        t3 = next(ev for ev in events if ev["event_id"] == "T3-1")
        solved = {"event_id": "T3-2", "type": "ticket.solved",
                  "occurred_at": float(t3["occurred_at"]) + 300, "conversation_id": "T3"}
        produce(services.bootstrap, env, [solved])
        wait_for(lambda: synced(services.bootstrap, env, port, len(events) + 1), 90,
                 "the new completion applied")
        s = parse(scrape(port))
        every = {"window": "1h", "queue": "all", "channel": "all", "team": "all",
                 "priority": "all"}
        assert sample(s, "support_customer_completed_conversations", **every) == 9
        assert sample(s, "support_repeat_contact_conversations", within="20m", **every) == 2
        assert sample(s, "support_customer_fcr_eligible_conversations", **every) == 7
        logs = (tmp_path / "worker.log").read_text(errors="replace") + worker.log_text()
        assert_no_raw_ids(services, env, ns, logs, scrape(port))
    finally:
        worker.stop()


def assert_no_raw_ids(services: ServiceConfig, env: dict[str, str], ns: str, logs: str,
                      metrics: str) -> None:
    """The raw ids are on the input topics only: not in any Redis key or value of the
    store, not on the customers topic, not in the log, not on /metrics."""
    r = redis.Redis.from_url(services.redis_url)
    seen: list[bytes] = []
    for pattern in ("{" + ns + "|*}:*", "{" + ns + "}:*"):
        for key in r.scan_iter(match=pattern, count=1000):
            seen.append(key)
            kind = r.type(key)
            if kind == b"string":
                seen.append(r.get(key) or b"")
            elif kind == b"hash":
                seen.extend(b for kv in r.hgetall(key).items() for b in kv)
            elif kind == b"set":
                seen.extend(r.smembers(key))
            elif kind == b"zset":
                seen.extend(m for m, _ in r.zrange(key, 0, -1, withscores=True))
    assert any(b":u:" in k for k in seen), "no customer state was found to check"
    contacts = read_topic(services.bootstrap, env["SUPPORT_TOPIC_CUSTOMERS"])
    assert contacts
    texts = {"redis": b"\n".join(seen).decode(errors="replace"),
             "customers topic": b"\n".join(m.value + (m.key or b"") for m in contacts)
             .decode(errors="replace"),
             "log": logs, "/metrics": metrics}
    for where, text in texts.items():
        for raw in RAW_IDS:
            assert raw not in text, f"{raw!r} found in {where}"


def customers_process(worker: WorkerProcess) -> int | None:
    assert worker.proc is not None
    found = [pid for pid, cmd in children(worker.proc.pid) if "--role customers" in cmd]
    return found[0] if found else None


def test_the_customers_process_comes_back_after_a_kill_and_leaves_with_the_worker(
        services: ServiceConfig, customer_env: dict[str, str], tmp_path: Path) -> None:
    """SIGKILL the worker's customers process before any contact arrives: the worker
    starts it again, and the hand-worked floor comes out exactly (nothing lost, nothing
    doubled); stopping the worker stops it."""
    env, port = customer_env, int(customer_env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: "support_events_processed_total" in scrape(port), 60, "/metrics")
        wait_for(lambda: customers_process(worker) is not None, 30, "the customers process")
        first = customers_process(worker)
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: customers_process(worker) not in (None, first), 30,
                 "the customers process started again")
        events = floor(time.time())
        produce(services.bootstrap, env, events)
        wait_for(lambda: synced(services.bootstrap, env, port, len(events)), 90,
                 "events and contacts applied")
        check(port)
        assert "the customers process exited" in worker.log_text()
        again = customers_process(worker)
        assert again is not None
    finally:
        worker.stop()
    wait_for(lambda: not Path(f"/proc/{again}").exists(), 30, "the customers process gone")

