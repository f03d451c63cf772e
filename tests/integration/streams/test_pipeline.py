"""A hand-written event script through real Kafka and the real worker to /metrics.

Every expected value below is worked out by hand from the KPI definitions in
docs/kpis.md; the comments show the arithmetic.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from devtools.services import ServiceConfig
from kpi.histogram import RELATIVE_ERROR
from tests.support import (
    WorkerProcess,
    parse,
    promtool_check_metrics,
    read_topic,
    sample,
    scrape,
    wait_for,
)

pytestmark = pytest.mark.integration


def script(now: float) -> list[dict[str, object]]:
    a = now - 600  # "recent" group: 10 minutes ago (inside 15m and 1h)
    b = now - 2400  # "older" group: 40 minutes ago (inside 1h only)

    def e(eid: str, typ: str, t: float, cid: str, **kw: object) -> dict[str, object]:
        return {"event_id": eid, "type": typ, "occurred_at": round(t, 3),
                "conversation_id": cid, **kw}

    billing = {"queue": "billing", "channel": "email", "priority": "normal"}
    tech = {"queue": "technical", "channel": "chat", "priority": "high"}
    return [
        # T1: FRT 60, resolved at first contact in 120 s, CSAT 5 (+ an upstream duplicate)
        e("T1-1", "ticket.created", a, "T1", **billing),
        e("T1-2", "ticket.message", a + 60, "T1", actor="agent", agent_id="ann"),
        e("T1-3", "ticket.solved", a + 120, "T1"),
        e("T1-4", "survey.csat", a + 130, "T1", score=5),
        e("T1-4", "survey.csat", a + 130, "T1", score=5),
        # T2: the first agent reply arrives before the created (out of order): FRT 300;
        # two human replies → not FCR; resolution 410; CSAT 2
        e("T2-2", "ticket.message", a + 310, "T2", actor="agent"),
        e("T2-1", "ticket.created", a + 10, "T2", **billing),
        e("T2-3", "ticket.message", a + 320, "T2", actor="customer"),
        e("T2-4", "ticket.message", a + 400, "T2", actor="agent"),
        e("T2-5", "ticket.solved", a + 420, "T2"),
        e("T2-6", "survey.csat", a + 430, "T2", score=2),
        # T3: escalated → escalation, not FCR; resolution 180; reopened
        e("T3-1", "ticket.created", a + 20, "T3", **billing),
        e("T3-2", "ticket.message", a + 80, "T3", actor="agent"),
        e("T3-3", "ticket.escalated", a + 90, "T3", team="tier2"),
        e("T3-4", "ticket.solved", a + 200, "T3"),
        e("T3-5", "ticket.reopened", a + 260, "T3"),
        # T4: would be FCR (one reply, solved at 100) but is reopened → FCR retracted
        e("T4-1", "ticket.created", a + 30, "T4", **billing),
        e("T4-2", "ticket.message", a + 90, "T4", actor="agent"),
        e("T4-3", "ticket.solved", a + 100, "T4"),
        e("T4-4", "ticket.reopened", a + 200, "T4"),
        # C1: bot reply does not count; handoff then agent at 50 → FRT 50; a handoff is
        # not an escalation (SUPPORT_ESCALATION_INCLUDES_HANDOFFS is off) nor against FCR
        e("C1-1", "chat.started", a, "C1", **tech),
        e("C1-2", "chat.message", a + 5, "C1", actor="bot"),
        e("C1-3", "chat.handoff", a + 20, "C1"),
        e("C1-4", "chat.message", a + 50, "C1", actor="agent"),
        e("C1-5", "chat.ended", a + 100, "C1"),
        # C2: the bot resolves it: no FRT, contained by the bot, outside FCR (no human
        # worked it), CSAT 4
        e("C2-1", "chat.started", a + 10, "C2", **tech),
        e("C2-2", "chat.message", a + 12, "C2", actor="bot"),
        e("C2-3", "chat.ended", a + 40, "C2"),
        e("C2-4", "survey.csat", a + 50, "C2", score=4),
        # C3: FRT 20, transferred → escalation and not FCR; resolution 105
        e("C3-1", "chat.started", a + 15, "C3", **tech),
        e("C3-2", "chat.handoff", a + 20, "C3"),
        e("C3-3", "chat.message", a + 35, "C3", actor="agent"),
        e("C3-4", "chat.transferred", a + 60, "C3"),
        e("C3-5", "chat.message", a + 90, "C3", actor="agent"),
        e("C3-6", "chat.ended", a + 120, "C3"),
        # T5 (40 minutes ago): FRT 120, FCR, resolution 200, CSAT 3
        e("T5-1", "ticket.created", b, "T5", **billing),
        e("T5-2", "ticket.message", b + 120, "T5", actor="agent"),
        e("T5-3", "ticket.solved", b + 200, "T5"),
        e("T5-4", "survey.csat", b + 210, "T5", score=3),
    ]


INVALID = [
    (b"T9", b"{this is not json"),
    (b"T9", b'{"event_id": "T9-1", "type": "ticket.created", "conversation_id": "T9"}'),
    (b"T9", b'{"event_id": "T9-2", "type": "survey.csat", "occurred_at": 1700000000, '
            b'"conversation_id": "T9", "score": 9}'),
]
VALID_EVENTS = 38  # 39 lines above minus one upstream duplicate


def produce(bootstrap: str, env: dict[str, str], events: list[dict[str, object]],
            invalid: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for ev in events:
        topic = env["SUPPORT_TOPIC_CHATS"] if str(ev["conversation_id"]).startswith("C") \
            else env["SUPPORT_TOPIC_TICKETS"]
        p.send(topic, key=str(ev["conversation_id"]).encode(), value=json.dumps(ev).encode())
    for key, value in invalid:
        p.send(env["SUPPORT_TOPIC_TICKETS"], key=key, value=value)
    p.flush()
    p.close()


def approx(x: float | None, want: float) -> bool:
    return x is not None and abs(x - want) <= RELATIVE_ERROR * want + 1e-9


def check_expected(port: int, duplicates: int = 1) -> None:
    s = parse(scrape(port))

    def v(name: str, window: str, queue: str, channel: str = "all", **kw: str) -> float | None:
        return sample(s, name, window=window, queue=queue, channel=channel, team="all",
                      priority="all", **kw)

    frt = "support_first_response_seconds"
    # 15m, billing: FRT {60, 300, 60, 60}
    assert v(frt + "_count", "15m", "billing") == 4
    assert v(frt + "_sum", "15m", "billing") == 480
    assert approx(v(frt, "15m", "billing", quantile="0.5"), 60)   # nearest rank 2 of 4
    assert approx(v(frt, "15m", "billing", quantile="0.9"), 300)  # nearest rank 4 of 4
    # resolution {120, 410, 180, 70}
    assert v("support_resolution_seconds_count", "15m", "billing") == 4
    assert v("support_resolution_seconds_sum", "15m", "billing") == 780
    # completed T1..T4; FCR only T1 (T4 retracted by its reopen); escalated only T3
    assert v("support_completed_conversations", "15m", "billing") == 4
    assert v("support_fcr_conversations", "15m", "billing") == 1
    assert v("support_fcr_ratio", "15m", "billing") == 0.25
    assert v("support_escalation_ratio", "15m", "billing") == 0.25
    assert v("support_reopen_ratio", "15m", "billing") == 0.5  # T3 and T4 of 4
    # CSAT {5, 2} (the duplicate of T1's 5 is not counted)
    assert v("support_csat_responses", "15m", "billing") == 2
    assert v("support_csat_ratio", "15m", "billing") == 0.5
    assert v("support_csat_score_mean", "15m", "billing") == 3.5
    assert v("support_window_events", "15m", "billing", kind="reopened") == 2
    assert v("support_window_events", "15m", "billing", kind="created") == 4
    # 1h, billing adds T5: FRT +120, FCR 2/5, escalation 1/5, CSAT {5,2,3} → 1/3
    assert v(frt + "_count", "1h", "billing") == 5
    assert v(frt + "_sum", "1h", "billing") == 600
    assert v("support_fcr_ratio", "1h", "billing") == 0.4
    assert v("support_escalation_ratio", "1h", "billing") == 0.2
    assert v("support_csat_ratio", "1h", "billing") == pytest.approx(1 / 3)
    # technical chats: FRT {50, 20}; FCR C1 of C1, C3 (C2 had no human); escalated C3
    # (transfer) of 3; handed off C1, C3; contained by the bot C2 of 3 chats ended
    for w in ("15m", "1h"):
        assert v(frt + "_count", w, "technical") == 2
        assert v(frt + "_sum", w, "technical") == 70
        assert v("support_fcr_eligible_conversations", w, "technical") == 2
        assert v("support_fcr_ratio", w, "technical") == 0.5
        assert v("support_escalation_ratio", w, "technical") == pytest.approx(1 / 3)
        assert v("support_chat_handoffs", w, "technical") == 2
        assert v("support_bot_containment_ratio", w, "technical") == pytest.approx(1 / 3)
        assert v("support_csat_ratio", w, "technical") == 1.0
        assert v("support_resolution_seconds_sum", w, "technical") == 235
    # all queues, 15m: 7 completed, 6 with a human reply (not C2); FCR T1 C1; escalated
    # T3 C3
    assert v("support_fcr_ratio", "15m", "all") == pytest.approx(2 / 6)
    assert v("support_escalation_ratio", "15m", "all") == pytest.approx(2 / 7)
    assert v("support_fcr_ratio", "15m", "billing", channel="email") == 0.25
    # pipeline health
    assert sample(s, "support_events_rejected_total", reason="not_json") == 1
    assert sample(s, "support_events_rejected_total", reason="missing_field") == 1
    assert sample(s, "support_events_rejected_total", reason="score_out_of_range") == 1
    assert sample(s, "support_events_duplicate_total") == duplicates
    assert sample(s, "support_redis_up") == 1
    # priority breakdown: the billing tickets are "normal", the chats "high"
    every = {"queue": "all", "channel": "all", "team": "all"}
    assert sample(s, "support_completed_conversations", window="1h", priority="normal",
                  **every) == 5
    assert sample(s, "support_completed_conversations", window="1h", priority="high",
                  **every) == 3


def processed(port: int) -> float:
    s = parse(scrape(port))
    return sum(v for (name, _), v in s.items() if name == "support_events_processed_total")


def test_script_gives_exact_kpis_and_dlq(services: ServiceConfig, worker_env: dict[str, str],
                                         tmp_path: Path) -> None:
    port = int(worker_env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: processed(port) == 0, 60, "worker /metrics")
        produce(services.bootstrap, worker_env, script(time.time()), INVALID)
        wait_for(lambda: processed(port) == VALID_EVENTS, 60, "all events processed")
        wait_for(lambda: sample(parse(scrape(port)), "support_events_rejected_total",
                                reason="score_out_of_range") == 1, 30, "rejects counted")
        check_expected(port)
        promtool_check_metrics(scrape(port))
        # a health probe for two names gets those two series and nothing else
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics?name[]=support_redis_up"
                                    "&name[]=support_last_event_timestamp_seconds") as r:
            probe = parse(r.read().decode())
        assert {name for name, _ in probe} == {"support_redis_up",
                                               "support_last_event_timestamp_seconds"}
        assert sample(probe, "support_redis_up") == 1

        # DLQ: original bytes, reason and source coordinates
        dlq = read_topic(services.bootstrap, worker_env["SUPPORT_TOPIC_DLQ"])
        assert len(dlq) == 3
        by_value = {m.value: dict(m.headers) for m in dlq}
        assert {v for _, v in INVALID} == set(by_value)
        reasons = {by_value[v][("dlq.reason")].decode() for _, v in INVALID}
        assert reasons == {"not_json", "missing_field", "score_out_of_range"}
        for h in by_value.values():
            assert h["dlq.topic"].decode() == worker_env["SUPPORT_TOPIC_TICKETS"]
            assert int(h["dlq.offset"]) >= 0

        # Redelivery: stop, rewind the group's committed offsets to 0, restart. The worker
        # seeks to the Redis watermark, so nothing is counted twice.
        worker.stop()
        rewind_group(services.bootstrap, worker_env)
        worker = WorkerProcess(worker_env, tmp_path / "worker2.log").start()
        wait_for(lambda: processed(port) == VALID_EVENTS, 60, "restarted worker")
        # a sync point: one more upstream duplicate must be seen as a duplicate
        produce(services.bootstrap, worker_env, [script(time.time())[0]])
        wait_for(lambda: sample(parse(scrape(port)), "support_events_duplicate_total") == 2,
                 60, "second duplicate")
        assert processed(port) == VALID_EVENTS
        s = parse(scrape(port))
        assert sample(s, "support_events_rejected_total", reason="not_json") == 1
        check_expected(port, duplicates=2)  # every other value exactly as before
        assert "seek to" in worker.log_text()
    finally:
        worker.stop()
        print(worker.log_text()[-6000:])  # shown by pytest when the test fails


def rewind_group(bootstrap: str, env: dict[str, str]) -> None:
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=env["SUPPORT_APP_ID"],
                      enable_auto_commit=False)
    tps = [TopicPartition(t, p) for t in (env["SUPPORT_TOPIC_TICKETS"],
                                          env["SUPPORT_TOPIC_CHATS"])
           for p in range(int(env["SUPPORT_TOPIC_PARTITIONS"]))]
    c.assign(tps)
    c.commit({tp: OffsetAndMetadata(0, "", -1) for tp in tps})
    c.close()
