"""`support-kpi import VENDOR`: each vendor's history, files in its API's native order
(newest first, per ticket, conversations after tickets), through real Kafka and the
worker, gives the windows the batch oracle computes for the same history sorted, and the
hand-computed first responses (tests/unit/connectors works them out)."""

from __future__ import annotations

import calendar
import json
import os
import time
from pathlib import Path

import pytest

from devtools.services import ServiceConfig
from tests.replay_check import cli, compare_with_oracle, counters, rows_from_json, seen
from tests.support import ROOT, WorkerProcess, wait_for


def _at(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


# vendor → (account, events, a minute after the story ends, (first responses, mean))
CASES = {
    "zendesk": ("42", 12, 1601357459 + 3 * 3600 + 60, (2, 2400)),
    "freshdesk": ("0", 11, _at("2026-03-03T11:01:00Z"), (2, 1200)),
    "chatwoot": ("3", 16, _at("2026-03-04T11:01:00Z"), (2, 1245)),
    "intercom": ("ut3ltzbq", 12, 1700003900 + 60, (2, 195)),
}


@pytest.mark.parametrize("vendor", list(CASES))
def test_an_export_in_native_order_counts_like_the_sorted_history(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path,
        vendor: str) -> None:
    account, n, end, first_responses = CASES[vendor]
    files = []
    for fixture in sorted((ROOT / "tests/fixtures/connectors" / f"{vendor}_export")
                          .glob("*.json")):
        files.append(tmp_path / fixture.name)
        files[-1].write_text(json.dumps(json.loads(fixture.read_text())["payload"]))
    env = {**os.environ, **worker_env, "SUPPORT_READ_CLOCK": "event"}
    sorted_history = tmp_path / "history.jsonl"
    cli(env, "import", vendor, *map(str, files), "--account", account,
        "--out", str(sorted_history))
    assert len(sorted_history.read_text().splitlines()) == n
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: seen(port) == 0, 60, "worker up")
        out = cli(env, "import", vendor, *map(str, reversed(files)), "--account", account)
        assert out == ""  # the summary goes to stderr
        wait_for(lambda: seen(port) == n, 60, "every imported event seen")
        assert counters(port).get("support_events_late_dropped_total", 0) == 0
        compare_with_oracle(env, sorted_history, [str(end)])
        row = rows_from_json(cli(env, "query", "--window", "24h", "--at", str(end),
                                 "--json"))[(str(float(end)), "24h")]["*"]
        assert (row["frt_count"], row["frt_mean_seconds"]) == first_responses
    finally:
        worker.stop()
