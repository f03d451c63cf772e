"""The customer path agrees with the batch oracle on a randomized multi-channel floor of
repeat customers, sent out of order over three partitions, with the worker SIGKILLed
mid-stream: every row of every window equal (0 lost, 0 counted twice)."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest
import redis

from devtools import oracle
from devtools import simulate as sim
from devtools.services import ServiceConfig
from supportkpi.settings import load_settings
from tests.agreement import diff_rows
from tests.integration.streams.test_crash_recovery import processed, send_paced
from tests.integration.streams.test_customers import SECRET, synced
from tests.support import WorkerProcess, parse, sample, scrape, wait_for
from windows.keys import Keys
from windows.reader import WindowReader

pytestmark = pytest.mark.integration


def shuffled(events: list[dict[str, object]], rnd: random.Random) -> list[dict[str, object]]:
    """Each event up to ten minutes early or late against the others (well inside the
    allowed lateness: nothing is dropped, everything arrives out of order)."""
    jitter = {id(e): float(e["occurred_at"]) + rnd.uniform(-600, 600)  # type: ignore[arg-type]
              for e in events}
    return sorted(events, key=lambda e: jitter[id(e)])


def test_repeat_customers_agree_with_the_oracle_across_a_sigkill(
        services: ServiceConfig, worker_env: dict[str, str], ns: str,
        tmp_path: Path) -> None:
    env = {**worker_env, "SUPPORT_TOPIC_PARTITIONS": "3", "SUPPORT_BATCH_MAX": "25",
           "SUPPORT_CUSTOMER_KPIS": "true", "SUPPORT_CUSTOMER_SECRET": SECRET,
           "SUPPORT_TOPIC_CUSTOMERS": f"{ns}.customers", "SUPPORT_REPEAT_WINDOW": "20m,1h"}
    settings = load_settings(**{k[8:].lower(): v for k, v in env.items()
                                if k.startswith("SUPPORT_") and k != "SUPPORT_DATA_DIR"})
    cfg = settings.kpi_config()
    now_ms = int(time.time() * 1000)
    # 3 hours at 5 a minute from 250 customers: about 900 conversations, most customers
    # back two or three times, on either channel
    events = shuffled(sim.generate(sim.FloorParams(seed=35, rate_per_min=5, customers=250),
                                   now_ms - 3 * 3_600_000, now_ms), random.Random(35))
    routed = list(sim.route(events, env["SUPPORT_TOPIC_TICKETS"], env["SUPPORT_TOPIC_CHATS"]))
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "w1.log").start()
    try:
        wait_for(lambda: processed(port) == 0, 60, "worker /metrics")
        producing = threading.Thread(target=send_paced, args=(services.bootstrap, routed))
        producing.start()
        n = len(events)
        wait_for(lambda: processed(port) >= n // 3, 120, "a third processed", interval=0.05)
        worker.kill()  # SIGKILL: contacts on the topic whose batch never ran, and the reverse
        worker = WorkerProcess(env, tmp_path / "w2.log").start()
        wait_for(lambda: processed(port) >= 0, 60, "restarted worker /metrics")
        assert processed(port) < n, "the worker had applied everything before the kill"
        producing.join(120)
        wait_for(lambda: synced(services.bootstrap, env, port, n), 180,
                 f"all {n} events and their contacts applied")
        assert sample(parse(scrape(port)), "support_events_duplicate_total") == 0

        accepted = oracle.accept(((t, 0, v) for t, _k, v in routed), cfg,
                                 settings.schema_config())
        assert accepted.late == 0 and accepted.duplicates == 0
        at = int(time.time() * 1000)
        expected = oracle.evaluate(accepted, cfg, at).windows
        reader = WindowReader(redis.Redis.from_url(services.redis_url),
                              Keys(env["SUPPORT_KEY_PREFIX"]), cfg)
        problems: list[str] = []
        for w in cfg.windows:
            problems += diff_rows(reader.window(w, at).rows, expected[w.name], f"[{w.name}]")
        assert not problems, "\n".join(problems[:30])
        day = expected["24h"]["*"]
        # the floor really has what is under test
        assert (day["repeat_contacts"] or 0) > 20 and (day["switch_ratio"] or 0) > 0.2
        assert 0 < (day["cfcr_ratio"] or 0) < 1 and (day["cpc_mean"] or 0) > 1.2
        # SUPPORT_REPEAT_WINDOW=20m,1h: the shorter window sees some repeats, not all
        assert 0 < (day["repeat_contacts_within_20m"] or 0) < (day["repeat_contacts"] or 0)
        print(json.dumps({k: day[k] for k in ("customer_completed", "repeat_ratio",
                                              "cfcr_ratio", "switch_ratio", "cpc_mean")}))
    finally:
        worker.stop()
