"""`support-kpi import zendesk`: a Zendesk ticket event export in its native (per-ticket)
order, through real Kafka and the worker, gives the windows the batch oracle computes for
the same history sorted, and the hand-computed first responses."""

from __future__ import annotations

import json
import os
from pathlib import Path

from devtools.services import ServiceConfig
from tests.replay_check import cli, compare_with_oracle, counters, rows_from_json, seen
from tests.support import ROOT, WorkerProcess, wait_for

PAGE = ROOT / "tests/fixtures/connectors/zendesk_export/page1.json"
END = 1601357459 + 3 * 3600 + 60  # a minute after the last solve


def test_an_export_in_ticket_order_counts_like_the_sorted_history(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    page = tmp_path / "page1.json"
    page.write_text(json.dumps(json.loads(PAGE.read_text())["payload"]))
    env = {**os.environ, **worker_env, "SUPPORT_READ_CLOCK": "event"}
    sorted_history = tmp_path / "history.jsonl"
    cli(env, "import", "zendesk", str(page), "--account", "42", "--out", str(sorted_history))
    n = len(sorted_history.read_text().splitlines())
    assert n == 12
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: seen(port) == 0, 60, "worker up")
        out = cli(env, "import", "zendesk", str(page), "--account", "42")
        assert out == ""  # the summary goes to stderr
        wait_for(lambda: seen(port) == n, 60, "every imported event seen")
        assert counters(port).get("support_events_late_dropped_total", 0) == 0
        compare_with_oracle(env, sorted_history, [str(END)])
        row = rows_from_json(cli(env, "query", "--window", "24h", "--at", str(END),
                                 "--json"))[(str(float(END)), "24h")]["*"]
        assert (row["frt_count"], row["frt_mean_seconds"]) == (2, 2400)
    finally:
        worker.stop()
