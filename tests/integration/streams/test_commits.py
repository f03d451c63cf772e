"""The consumer group's commits follow what the store applied (issue 32): per partition,
committed offset = Redis watermark + 1 after a drain, after a rebalance and after a SIGKILL
restart, and the commit bookkeeping stays bounded however many events go through."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis
from kafka import KafkaAdminClient

from devtools.services import ServiceConfig
from tests.integration.streams.test_faults import start_worker
from tests.replay_check import seen
from tests.support import WorkerProcess, free_port, parse, sample, scrape, wait_for
from windows.keys import Keys

pytestmark = pytest.mark.integration


def consuming(env: dict[str, str], log: Path) -> WorkerProcess:
    """A worker that created its topics and got its partitions: a producer that ran before
    could auto-create an input topic with the broker's default partition count."""
    worker = start_worker(env, log)
    wait_for(lambda: "assigned" in worker.log_text(), 60, f"partitions assigned ({log.name})")
    return worker


def produce(bootstrap: str, topic: str, first: int, conversations: int, t0: float) -> int:
    """Small valid tickets (created, a customer message, an agent reply, solved) with
    librdkafka, keyed by conversation: how many events were sent."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all",
                  "queue.buffering.max.messages": 1_000_000})
    n = 0
    for c in range(first, first + conversations):
        cid = f"c{c}"
        t = t0 + (c % 600)
        for k, (typ, extra) in enumerate((("ticket.created", {"queue": "billing"}),
                                          ("ticket.message", {"actor": "customer"}),
                                          ("ticket.message", {"actor": "agent",
                                                              "agent_id": "a1"}),
                                          ("ticket.solved", {}))):
            doc = {"event_id": f"{cid}-{k}", "type": typ, "occurred_at": t + k * 30,
                   "conversation_id": cid, **extra}
            p.produce(topic, key=cid.encode(), value=json.dumps(doc).encode())
            n += 1
        if c % 10_000 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    return n


def committed(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {(tp.topic, tp.partition): om.offset
                for tp, om in admin.list_group_offsets(group)[group].items()
                if om.offset >= 0}
    finally:
        admin.close()


def watermarks(env: dict[str, str]) -> dict[tuple[str, int], int]:
    client = redis.Redis.from_url(env["SUPPORT_REDIS_URL"])
    keys = Keys(env["SUPPORT_KEY_PREFIX"])
    out = {}
    for topic in (env["SUPPORT_TOPIC_TICKETS"], env["SUPPORT_TOPIC_CHATS"]):
        for p in range(int(env["SUPPORT_TOPIC_PARTITIONS"])):
            field = f"{topic}:{p}"
            last = client.hget(keys.of(field).offsets, field)
            if last is not None:
                out[(topic, p)] = int(last)
    return out


def commits_follow_the_store(env: dict[str, str], what: str, timeout: float = 15) -> None:
    """Until every partition with a watermark has committed exactly watermark + 1; the
    default timeout is a few commit intervals (1 s) on a loaded machine."""
    last: list[object] = []

    def follows() -> bool:
        marks = watermarks(env)
        got = committed(env["SUPPORT_KAFKA_BOOTSTRAP"], env["SUPPORT_APP_ID"])
        last[:] = [marks, got]
        return bool(marks) and all(got.get(tp) == w + 1 for tp, w in marks.items())

    try:
        wait_for(follows, timeout, what, interval=0.25)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; watermarks, committed: {last}") from None


def test_commits_follow_the_store_after_a_drain_a_rebalance_and_a_sigkill(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    env = {**worker_env, "SUPPORT_SESSION_TIMEOUT": "6"}
    port = int(env["SUPPORT_METRICS_PORT"])
    tickets, t0 = env["SUPPORT_TOPIC_TICKETS"], time.time() - 3600
    a = consuming(env, tmp_path / "a.log")
    b: WorkerProcess | None = None
    try:
        n = produce(services.bootstrap, tickets, 0, 500, t0)
        wait_for(lambda: seen(port) == n, 60, "the first drain applied")
        commits_follow_the_store(env, "committed = watermark + 1 after a drain")

        b = WorkerProcess({**env, "SUPPORT_METRICS_PORT": str(free_port())},
                          tmp_path / "b.log").start()
        wait_for(lambda: "assigned" in b.log_text(), 60, "the second worker got partitions")
        n += produce(services.bootstrap, tickets, 500, 500, t0)
        wait_for(lambda: seen(port) == n, 60, "applied after the rebalance")
        commits_follow_the_store(env, "committed = watermark + 1 after a rebalance")

        n += produce(services.bootstrap, tickets, 1000, 500, t0)
        wait_for(lambda: seen(port) == n, 60, "applied before the kill", interval=0.05)
        b.kill()
        a.kill()  # at once after the apply: the last commit may lag behind the store
        a = WorkerProcess(env, tmp_path / "a2.log").start()
        commits_follow_the_store(env, "committed = watermark + 1 after a SIGKILL restart",
                                 timeout=60)  # the dead members' sessions expire first
        assert seen(port) == n
    finally:
        a.stop()
        if b is not None:
            b.kill()


def test_commit_bookkeeping_stays_bounded_over_200k_events(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    """Faust kept every acked offset of a batch topic (42,914 entries after 331 s) and
    re-sorted them on each commit; now what is kept is what is in flight."""
    env = worker_env
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = consuming(env, tmp_path / "w.log")
    try:
        n = produce(services.bootstrap, env["SUPPORT_TOPIC_TICKETS"], 0, 50_000,
                    time.time() - 7200)
        assert n == 200_000
        sizes: list[float] = []

        def drained() -> bool:
            s = parse(scrape(port, "support_commit_backlog", "support_events_processed_total"))
            sizes.append(sample(s, "support_commit_backlog") or 0.0)
            return seen(port) >= n

        wait_for(drained, 240, "200,000 events applied", interval=0.5)
        assert seen(port) == n
        # two agents' stream buffers (16 fetched lists) and takes (8) at most
        assert max(sizes) <= 2 * (16 + 8), sizes
        commits_follow_the_store(env, "committed = watermark + 1 after 200,000 events")
    finally:
        worker.stop()
