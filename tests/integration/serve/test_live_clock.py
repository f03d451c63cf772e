"""Live ages on the event clock never read 0 while someone waits (issue 34): during a
replay (SUPPORT_READ_CLOCK=event) live ages are measured to the slowest input's clock, so
a wait on a partition ahead of it began "after" that clock; it is aged by its own
partition's clock instead of reading 0 s."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devtools.services import ServiceConfig, topics_exist
from streams.arrival import partition_of
from tests.integration.alerts.test_alerting import produce
from tests.support import WorkerProcess, parse, sample, scrape, wait_for

pytestmark = pytest.mark.integration


def on_partition(partition: int, tag: str) -> str:
    return next(f"{tag}-{i}" for i in range(1000)
                if partition_of(f"{tag}-{i}".encode(), 2) == partition)


def test_a_wait_ahead_of_the_slowest_input_is_aged_by_its_own_partition(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    env = {**worker_env, "SUPPORT_READ_CLOCK": "event", "SUPPORT_TOPIC_PARTITIONS": "2"}
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: sample(parse(scrape(port)), "support_redis_up") == 1, 60, "worker up")
        wait_for(lambda: topics_exist(services.bootstrap, [env["SUPPORT_TOPIC_TICKETS"]]), 60,
                 "the worker's topics")
        t0 = time.time() - 2 * 86_400  # a replay of two days ago
        slow, waiting, later = (on_partition(0, "slow"), on_partition(1, "wait"),
                                on_partition(1, "later"))

        def created(cid: str, at: float) -> dict[str, object]:
            return {"event_id": f"{cid}-{at}", "type": "ticket.created", "occurred_at": at,
                    "conversation_id": cid, "queue": "billing", "channel": "email"}

        # partition 0's input is at t0 + 1 s (its ticket answered: nobody waits there);
        # partition 1's at t0 + 160 s, with waits since t0 + 100 s and t0 + 160 s: both
        # ahead of the slowest input's clock
        answer = {"event_id": f"{slow}-r", "type": "ticket.message", "occurred_at": t0 + 1,
                  "conversation_id": slow, "actor": "agent", "agent_id": "a1"}
        produce(services.bootstrap, env["SUPPORT_TOPIC_TICKETS"],
                [created(slow, t0), answer, created(waiting, t0 + 100),
                 created(later, t0 + 160)])

        def gauges() -> tuple[float | None, float | None]:
            s = parse(scrape(port, "support_waiting_conversations",
                             "support_oldest_waiting_seconds"))
            return (sample(s, "support_waiting_conversations", queue="all", channel="all"),
                    sample(s, "support_oldest_waiting_seconds", queue="all", channel="all"))

        wait_for(lambda: gauges()[0] == 2, 30, "two waiting", interval=0.1)
        n, oldest = gauges()  # within the 10 s both inputs count as active
        assert n == 2
        assert oldest is not None and oldest >= 60, oldest  # t0 + 160 - (t0 + 100), and on
    finally:
        worker.stop()
