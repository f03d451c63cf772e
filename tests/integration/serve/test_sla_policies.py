"""SLA policies as a person reads them, through Kafka and the real worker: each
hand-worked case of tests/sla_cases.py (met, breached, paused then resumed, reopened, the
first matching policy) in its own queue on /metrics and in ``query --json``; and, on the
wall clock, a conversation that shows in the at-risk gauges before its target falls due,
breaches when nobody answers, and leaves them when someone does."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
from pathlib import Path

from kafka import KafkaProducer

from devtools.services import ServiceConfig
from tests.replay_check import cli, rows_from_json, seen
from tests.sla_cases import CASES, POLICIES_TEXT, T0
from tests.sla_cases import wire as wire_case
from tests.support import WorkerProcess, parse, sample, scrape, wait_for

DAY = 86_400_000
TARGETS = ("first_reply", "next_reply", "resolution")
# the cases of tests/sla_cases.py, moved to three days ago (whole days: same weekday
# and hour, so no calendar matters), each in a queue of its own; plus "vip": the "met"
# history at urgent priority, where the first policy (first reply in 15 min) applies
BASE = T0 + (int(time.time() * 1000) - 3 * DAY - T0) // DAY * DAY
QUEUES = {name.replace(" ", "_").replace(",", ""): name for name in CASES}
VIP = {"first_reply": (0, 1), "next_reply": (0, 0), "resolution": (0, 0)}


def docs() -> list[dict[str, object]]:
    out = [d for queue, name in QUEUES.items()
           for d in wire_case(CASES[name][0], f"c-{queue}", BASE, queue)]
    out += wire_case(CASES["met"][0], "c-vip", BASE, "vip", priority="urgent")
    # in event-time order, as the helpdesk emitted them: the reopened case spans 23 h, far
    # past the allowed lateness if sent case after case
    return sorted(out, key=lambda d: str(d["occurred_at"]))


def expected(queue: str) -> dict[str, tuple[int, int]]:
    return VIP if queue == "vip" else CASES[QUEUES[queue]][1]


def check_row(row: dict[str, float | None], want: dict[str, tuple[int, int]],
              where: str) -> None:
    for t in TARGETS:
        met, breached = want[t]
        n = met + breached
        got = (row.get(f"sla_{t}_met"), row.get(f"sla_{t}_breached"),
               row.get(f"sla_{t}_samples"), row.get(f"sla_{t}_ratio"))
        assert got == (met, breached, n, met / n if n else None), f"{where} {t}: {got}"


def test_each_policy_case_on_metrics_and_in_query(services: ServiceConfig,
                                                  worker_env: dict[str, str],
                                                  tmp_path: Path) -> None:
    policies = tmp_path / "sla_policies.yml"
    policies.write_text(POLICIES_TEXT)
    env = {**worker_env, "SUPPORT_WINDOWS": "1h,2d", "SUPPORT_SLA_POLICIES": str(policies),
           "SUPPORT_READ_CLOCK": "event"}
    lines = docs()
    file = tmp_path / "cases.jsonl.gz"
    with gzip.open(file, "wb") as fh:
        fh.write(b"".join(json.dumps(d).encode() + b"\n" for d in lines))
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: seen(port) == 0, 60, "worker up")
        cli(env, "replay", str(file))
        wait_for(lambda: seen(port) == len(lines), 60, "every event applied")
        s = parse(scrape(port))
        at = BASE + 2 * DAY
        rows = rows_from_json(cli(env, "query", "--window", "2d", "--at", str(at / 1000),
                                  "--json"))[(str(at / 1000), "2d")]
        for queue in [*QUEUES, "vip"]:
            labels = {"window": "2d", "queue": queue, "channel": "all", "team": "all",
                      "priority": "all"}
            on_metrics = {f"sla_{t}_{k}": sample(s, f"support_sla_{t}_{m}", **labels)
                          for t in TARGETS
                          for k, m in (("met", "met"), ("breached", "breached"),
                                       ("samples", "samples"), ("ratio", "achievement_ratio"))}
            check_row(on_metrics, expected(queue), f"/metrics {queue}")
            check_row(rows[f"queue={queue}"], expected(queue), f"query {queue}")
        floor = {t: tuple(sum(expected(q)[t][i] for q in [*QUEUES, "vip"]) for i in (0, 1))
                 for t in TARGETS}
        check_row(rows["*"], floor, "query floor")  # type: ignore[arg-type]
    finally:
        worker.stop()


def iso(ms: float) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def send(env: dict[str, str], steps: list[tuple[str, str, float, dict[str, str]]]) -> None:
    producer = KafkaProducer(bootstrap_servers=env["SUPPORT_KAFKA_BOOTSTRAP"], acks="all")
    for i, (cid, typ, t_ms, extra) in enumerate(steps):
        doc = {"event_id": f"{cid}-{typ}-{i}", "type": typ, "conversation_id": cid,
               "occurred_at": iso(t_ms), **extra}
        producer.send(env["SUPPORT_TOPIC_TICKETS"], key=cid.encode(),
                      value=json.dumps(doc).encode())
    producer.flush()
    producer.close()


def gauges(port: int) -> tuple[float | None, ...]:
    """(at risk within 2m, within 5m, breaching, first reply running) for queue billing."""
    s = parse(scrape(port))
    q = {"queue": "billing", "channel": "all"}
    return (sample(s, "support_sla_at_risk_conversations", within="2m", **q),
            sample(s, "support_sla_at_risk_conversations", within="5m", **q),
            sample(s, "support_sla_breaching_conversations", **q),
            sample(s, "support_sla_first_reply_active", **q))


def test_at_risk_before_the_breach_and_gone_when_answered(services: ServiceConfig,
                                                          worker_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    """First reply due in 10 minutes, horizons 2 and 5 minutes, on the wall clock: "soon"
    falls due 30 s after it is sent and "later" 4 minutes after. Both show at risk (soon
    within 2m) and neither breaches; the reply to "later" takes it out of both gauges;
    nobody answers "soon", which leaves the at-risk gauges when it breaches."""
    policies = tmp_path / "sla_policies.yml"
    policies.write_text("policies: [{name: all, targets: {first_reply: 10m}, "
                        "clock: calendar}]\n")
    env = {**worker_env, "SUPPORT_SLA_POLICIES": str(policies),
           "SUPPORT_SLA_AT_RISK": "5m,2m"}
    port = int(env["SUPPORT_METRICS_PORT"])
    labels = {"channel": "email", "queue": "billing", "priority": "normal"}
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: seen(port) == 0, 60, "worker up")
        now = time.time() * 1000
        due = now + 30_000  # "soon": its 10-minute first-reply target falls due here
        send(env, [("soon", "ticket.created", due - 600_000, labels),
                   ("later", "ticket.created", now - 360_000, labels)])
        wait_for(lambda: gauges(port) == (1, 2, 0, 2), 60,
                 "both at risk (soon within 2m), none breaching")
        assert time.time() * 1000 < due, "soon breached before it was seen at risk"
        send(env, [("later", "ticket.message", time.time() * 1000,
                    {"actor": "agent", "agent_id": "a1"})])
        wait_for(lambda: gauges(port) == (1, 1, 0, 1), 60, "the answered one gone")
        assert time.time() * 1000 < due, "soon breached before the reply was seen"
        wait_for(lambda: gauges(port) == (0, 0, 1, 1), 160, "soon breaching, at risk no more")
        assert time.time() * 1000 >= due  # not before its deadline
    finally:
        worker.stop()
