"""`replay`: file order, routing by type, and the --from/--to filter, against real Kafka."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.services import ServiceConfig
from tests.support import ROOT, read_topic

pytestmark = pytest.mark.integration


def test_replay_filters_and_routes(services: ServiceConfig, worker_env: dict[str, str],
                                   tmp_path: Path) -> None:
    lines = [
        {"event_id": "1", "type": "ticket.created", "occurred_at": 1000, "conversation_id": "T"},
        {"event_id": "2", "type": "chat.started", "occurred_at": 1010, "conversation_id": "C"},
        {"event_id": "3", "type": "survey.csat", "occurred_at": 1020, "conversation_id": "C",
         "score": 5},
        {"event_id": "4", "type": "ticket.solved", "occurred_at": 2000, "conversation_id": "T"},
    ]
    file = tmp_path / "events.jsonl"
    file.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    env = {**os.environ, **worker_env}
    proc = subprocess.run([sys.executable, "-m", "supportkpi.cli", "replay", str(file),
                           "--from", "1000", "--to", "1500"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "replayed 3 events" in proc.stderr and "1 outside --from/--to" in proc.stderr

    def read(topic: str) -> list[dict[str, object]]:
        return [json.loads(m.value) for m in read_topic(services.bootstrap, topic)]

    assert [e["event_id"] for e in read(worker_env["SUPPORT_TOPIC_TICKETS"])] == ["1"]
    assert [e["event_id"] for e in read(worker_env["SUPPORT_TOPIC_CHATS"])] == ["2", "3"]


def case_ordered(n: int = 12) -> list[dict[str, object]]:
    """A vendor export in case order: each ticket's whole life (three hours) before the
    next ticket's, all created within the same hour."""
    out: list[dict[str, object]] = []
    for c in range(n):
        t0 = 1_767_225_600 + c * 60
        out += [{"event_id": f"{c}-1", "type": "ticket.created", "occurred_at": t0,
                 "conversation_id": f"T{c}", "queue": "billing"},
                {"event_id": f"{c}-2", "type": "ticket.message", "occurred_at": t0 + 600,
                 "conversation_id": f"T{c}", "actor": "agent"},
                {"event_id": f"{c}-3", "type": "ticket.solved", "occurred_at": t0 + 3 * 3600,
                 "conversation_id": f"T{c}"}]
    return out


def oracle_late(lines: list[dict[str, object]], partitions: int) -> int:
    """The batch oracle's count of events the worker drops as late in this order."""
    from devtools import oracle
    from streams.arrival import partition_of
    from supportkpi.settings import load_settings

    msgs = [("tickets", partition_of(str(d["conversation_id"]).encode(), partitions),
             json.dumps(d).encode()) for d in lines]
    return oracle.accept(msgs, load_settings().kpi_config()).late


def run_replay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "supportkpi.cli", "replay", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)


def test_a_history_in_case_order_is_sorted_and_counts_whole(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    from tests.replay_check import counters, seen
    from tests.support import WorkerProcess, wait_for

    lines = case_ordered()
    late = oracle_late(lines, 2)
    assert late > len(lines) // 3  # in file order most solves would be lost
    file = tmp_path / "export.jsonl"
    file.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    port = int(worker_env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: seen(port) == 0, 60, "worker up")
        proc = run_replay(worker_env, str(file))
        assert proc.returncode == 0, proc.stderr
        assert f"in file order the worker would have dropped {late} events as late" in \
            proc.stderr and "the worker drops 0 as late" in proc.stderr, proc.stderr
        wait_for(lambda: seen(port) == len(lines), 60, "every event seen")
        c = counters(port)
        assert c.get("support_events_processed_total") == len(lines), c
        assert c.get("support_events_late_dropped_total", 0) == 0, c
    finally:
        worker.stop()


def test_a_replay_that_would_lose_events_is_refused_or_says_how_many(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    from tests.replay_check import counters, seen
    from tests.support import WorkerProcess, wait_for

    lines = case_ordered()
    late = oracle_late(lines, 2)
    file = tmp_path / "export.jsonl"
    file.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    for args in (["--order", "file"], ["--sort-limit", "10"]):
        proc = run_replay(worker_env, str(file), *args)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert f"the worker will drop {late} events as late" in proc.stderr, proc.stderr
        assert "--accept-late" in proc.stderr
    from devtools.services import topics_exist

    # refused before anything was sent: not even a topic was created
    assert not topics_exist(services.bootstrap, [worker_env["SUPPORT_TOPIC_TICKETS"]])
    port = int(worker_env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: seen(port) == 0, 60, "worker up")
        proc = run_replay(worker_env, str(file), "--order", "file", "--accept-late")
        assert proc.returncode == 0 and f"the worker drops {late} as late" in proc.stderr, \
            proc.stderr
        wait_for(lambda: seen(port) == len(lines), 60, "every event seen")
        # the prediction is what the worker did
        assert counters(port).get("support_events_late_dropped_total") == late
    finally:
        worker.stop()
