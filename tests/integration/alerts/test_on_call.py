"""On-call can trust every page, with the real worker, a real Prometheus loaded with the
rendered rules and a real Alertmanager notifying a webhook receiver on loopback:

* a live-queue alert resolves when the queue drains, on both paths, and with both paths on
  the receiver gets one notification group per condition (the labels are the same);
* a paced replay of year-old history with the shipped rules pages nobody, and never shows
  an oldest-waiting age larger than the history itself; with the event read clock the
  replayed windows are on /metrics;
* a failing Alertmanager and webhook never put a credential of their URLs in the log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from devtools.services import ServiceConfig, topics_exist
from tests.integration.alerts.conftest import (
    Receiver,
    get_json,
    start_alertmanager,
    start_prometheus,
)
from tests.integration.alerts.test_alerting import produce
from tests.replay_check import cli
from tests.support import ROOT, WorkerProcess, free_port, parse, sample, scrape, wait_for

pytestmark = pytest.mark.integration

INTERVAL_S = 2.0  # evaluation interval of both paths
WAITING_RULES = """
rules:
  - name: WaitingHigh
    kpi: waiting
    statistic: value
    per: [queue]
    comparison: ">"
    threshold: 2
    for: 1s
    severity: page
    summary: "{value} conversations wait in {queue}"
"""


def created(n: int, queue: str) -> list[dict[str, object]]:
    now = time.time()
    return [{"event_id": f"{queue}-{i}-c", "type": "ticket.created", "occurred_at": now - 30,
             "conversation_id": f"{queue}-{i}", "queue": queue, "channel": "email"}
            for i in range(n)]


def answered(n: int, queue: str) -> list[dict[str, object]]:
    now = time.time()
    return [{"event_id": f"{queue}-{i}-r", "type": "ticket.message", "occurred_at": now - 1,
             "conversation_id": f"{queue}-{i}", "actor": "agent", "agent_id": "a1"}
            for i in range(n)]


def render(env: dict[str, str], rules: Path, out: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "supportkpi.cli", "alerts", "render",
                           str(rules), "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr


def prom_firing(prom_url: str, name: str) -> list[dict[str, Any]]:
    doc = get_json(f"{prom_url}/api/v1/alerts")
    return [a for a in doc["data"]["alerts"]  # type: ignore[index]
            if a["labels"].get("alertname") == name and a["state"] == "firing"]


def test_a_drained_queue_resolves_on_both_paths_and_pages_once(
        services: ServiceConfig, worker_env: dict[str, str], receiver: Receiver,
        tmp_path: Path) -> None:
    rules, rendered = tmp_path / "alerts.yml", tmp_path / "rendered.yml"
    rules.write_text(WAITING_RULES)
    render(worker_env, rules, rendered)
    am_url, am = start_alertmanager(tmp_path, receiver)
    env = {**worker_env, "SUPPORT_ALERT_RULES": str(rules), "SUPPORT_ALERTMANAGER_URL": am_url,
           "SUPPORT_ALERT_INTERVAL": str(INTERVAL_S)}
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    prom_url, prom = start_prometheus(tmp_path, port, rendered, am_url, interval="2s")
    try:
        wait_for(lambda: sample(parse(scrape(port)), "support_redis_up") == 1, 60, "worker up")
        produce(services.bootstrap, env["SUPPORT_TOPIC_TICKETS"], created(3, "billing"))

        def state() -> float | None:
            return sample(parse(scrape(port)), "support_alert_state", rule="WaitingHigh",
                          severity="page", queue="billing")

        wait_for(lambda: state() == 2, 60, "in-stream alert firing", interval=0.2)
        wait_for(lambda: bool(prom_firing(prom_url, "WaitingHigh")), 60,
                 "Prometheus alert firing", interval=0.5)
        wait_for(lambda: bool(receiver.groups("WaitingHigh")), 30, "a notification")

        produce(services.bootstrap, env["SUPPORT_TOPIC_TICKETS"], answered(3, "billing"))
        wait_for(lambda: sample(parse(scrape(port)), "support_waiting_conversations",
                                queue="billing", channel="all") == 0, 30,
                 "the drained queue reads 0 (not absent)", interval=0.2)
        drained = time.monotonic()
        # within two evaluation intervals (plus a scrape) on each path
        wait_for(lambda: state() == 0, 2 * INTERVAL_S + 1, "in-stream alert resolved",
                 interval=0.2)
        wait_for(lambda: not prom_firing(prom_url, "WaitingHigh"), 2 * INTERVAL_S + 3,
                 "Prometheus alert resolved", interval=0.2)
        print(f"both paths resolved {time.monotonic() - drained:.1f}s after the queue drained")
        wait_for(lambda: any(n["status"] == "resolved" for n in receiver.groups("WaitingHigh")),
                 30, "the resolve notified")
        time.sleep(3)  # late notifications of a second group would arrive by now
        groups = receiver.groups("WaitingHigh")
        keys = {json.dumps(n["groupLabels"], sort_keys=True) for n in groups}
        assert keys == {json.dumps({"alertname": "WaitingHigh", "queue": "billing",
                                    "severity": "page"}, sort_keys=True)}, groups
        assert all(len(n["alerts"]) == 1 for n in groups), groups
        assert groups[0]["status"] == "firing"
        worker.stop()  # a graceful stop gives the alert lease back
        log = worker.log_text()
        assert "no datas" not in log
        assert "alert evaluation lease released" in log
    finally:
        prom.terminate()
        am.terminate()
        worker.stop()
        prom.wait(20)
        am.wait(20)


def test_a_replay_of_year_old_history_never_pages(
        services: ServiceConfig, worker_env: dict[str, str], receiver: Receiver,
        tmp_path: Path) -> None:
    am_url, am = start_alertmanager(tmp_path, receiver)
    env = {**worker_env, "SUPPORT_ALERT_RULES": str(ROOT / "deploy/alerts.yml"),
           "SUPPORT_ALERTMANAGER_URL": am_url, "SUPPORT_ALERT_INTERVAL": "1"}
    full_env = {**os.environ, **env}
    port = int(env["SUPPORT_METRICS_PORT"])
    history = tmp_path / "2025.jsonl"
    until = time.time() - 400 * 86_400  # more than a year ago
    cli(full_env, "simulate", "--backfill", "3h", "--rate", "20", "--seed", "7", "--until",
        str(until), "--out", str(history))
    lines = [json.loads(ln) for ln in history.read_text().splitlines() if ln.strip()]
    times = [float(e["occurred_at"]) for e in lines]
    span_s = max(times) - min(times)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    prom_url, prom = start_prometheus(tmp_path, port, ROOT / "deploy/prometheus/"
                                      "support-kpi.rules.yml", am_url, interval="1s")
    ages: list[float] = []
    replay = None
    try:
        wait_for(lambda: sample(parse(scrape(port)), "support_redis_up") == 1, 60, "worker up")
        # the worker creates the topics: a producer first would auto-create one of them
        # with the broker's default partition count
        wait_for(lambda: topics_exist(services.bootstrap, [env["SUPPORT_TOPIC_TICKETS"],
                                                           env["SUPPORT_TOPIC_CHATS"]]),
                 60, "the worker's topics")
        replay = subprocess.Popen([sys.executable, "-m", "supportkpi.cli", "replay",
                                   str(history), "--speed", "600"], cwd=ROOT, env=full_env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while replay.poll() is None:
            s = parse(scrape(port))
            ages += [v for (name, _l), v in s.items() if name == "support_oldest_waiting_seconds"]
            if sample(s, "support_events_processed_total", topic=env["SUPPORT_TOPIC_TICKETS"]):
                assert sample(s, "support_catching_up") == 1
            time.sleep(0.5)
        assert replay.returncode == 0
        time.sleep(5)  # a few more evaluations of both paths after the last event
        s = parse(scrape(port))
        ages += [v for (name, _l), v in s.items() if name == "support_oldest_waiting_seconds"]
        assert ages and max(ages) <= span_s, (max(ages), span_s)
        assert sample(s, "support_catching_up") == 1
        assert [n for n in receiver.notifications] == []
        am_alerts = [a for a in get_json(f"{am_url}/api/v2/alerts")  # type: ignore[union-attr]
                     if a["labels"]["alertname"] != "Watchdog"]
        assert am_alerts == []
        doc = get_json(f"{prom_url}/api/v1/alerts")
        pending = [a["labels"]["alertname"] for a in doc["data"]["alerts"]  # type: ignore[index]
                   if a["labels"]["alertname"] != "Watchdog"]
        assert pending == []
        up = get_json(f"{prom_url}/api/v1/query?query=max(support_catching_up)")
        assert up["data"]["result"][0]["value"][1] == "1"  # type: ignore[index]
        assert "paused while the worker catches up" in worker.log_text()

        # then live traffic resumes: one ticket now. What the old history left open is not
        # live work (older than the live horizon): no waiting, breaching or oldest from it,
        # on the first live event or after, and nothing pages
        produce(services.bootstrap, env["SUPPORT_TOPIC_TICKETS"], created(1, "live"))
        wait_for(lambda: sample(parse(scrape(port)), "support_catching_up") == 0, 60,
                 "live again")
        for _ in range(10):  # ten evaluations of both paths
            s = parse(scrape(port))
            waits = {dict(labels).get("queue"): v for (name, labels), v in s.items()
                     if name == "support_waiting_conversations"
                     and dict(labels).get("channel") == "all"}
            assert waits.get("all") == 1 and waits.get("live") == 1, waits
            oldest = [v for (name, _l), v in s.items()
                      if name == "support_oldest_waiting_seconds"]
            assert max(oldest) < 300, max(oldest)
            assert not [v for (name, _l), v in s.items()
                        if name == "support_sla_breaching_conversations" and v], "breaching"
            time.sleep(1)
        assert receiver.notifications == []
    finally:
        if replay is not None:
            replay.kill()
        prom.terminate()
        am.terminate()
        worker.stop()
        prom.wait(20)
        am.wait(20)


def test_the_event_read_clock_shows_the_replayed_windows(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    env = {**worker_env, "SUPPORT_READ_CLOCK": "event"}
    full_env = {**os.environ, **env}
    port = int(env["SUPPORT_METRICS_PORT"])
    history = tmp_path / "yesterday.jsonl"
    cli(full_env, "simulate", "--backfill", "2h", "--rate", "20", "--seed", "3", "--until",
        str(time.time() - 400 * 86_400), "--out", str(history))
    n = sum(1 for ln in history.read_text().splitlines() if ln.strip())
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: sample(parse(scrape(port)), "support_redis_up") == 1, 60, "worker up")
        cli(full_env, "replay", str(history))

        def seen() -> float:
            s = parse(scrape(port))
            return sum(v for (name, _l), v in s.items()
                       if name in ("support_events_processed_total",
                                   "support_events_duplicate_total",
                                   "support_events_late_dropped_total"))

        wait_for(lambda: seen() >= n, 120, "the replay applied")
        s = parse(scrape(port))
        floor = {"window": "1h", "queue": "all", "channel": "all", "team": "all",
                 "priority": "all"}
        assert (sample(s, "support_window_events", **floor, kind="created") or 0) > 0
        assert (sample(s, "support_completed_conversations", **floor) or 0) > 0
        clock = sample(s, "support_event_clock_timestamp_seconds")
        assert clock is not None and clock < time.time() - 300 * 86_400
        # the same worker reading the wall clock would show empty windows
        wall = subprocess.run([sys.executable, "-m", "supportkpi.cli", "query", "--window",
                               "1h", "--json"], cwd=ROOT, capture_output=True, text=True,
                              env={**full_env, "SUPPORT_READ_CLOCK": "wall"})
        assert not [ln for ln in wall.stdout.splitlines() if '"window": "1h"' in ln]
    finally:
        worker.stop()


def test_no_credential_of_an_alert_url_reaches_the_log(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yml"
    rules.write_text(WAITING_RULES.replace("threshold: 2", "threshold: 0"))
    dead = free_port()
    env = {**worker_env, "SUPPORT_ALERT_RULES": str(rules), "SUPPORT_ALERT_INTERVAL": "0.5",
           "SUPPORT_ALERTMANAGER_URL": f"http://am-user:Am-Pass-7f3@127.0.0.1:{dead}",
           "SUPPORT_ALERT_WEBHOOK_URL":
               f"http://hook:Hook-Pass-9c1@127.0.0.1:{dead}/hook?token=Tok-Query-5e8",
           "SUPPORT_LOG_LEVEL": "debug"}
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: sample(parse(scrape(port)), "support_redis_up") == 1, 60, "worker up")
        produce(services.bootstrap, env["SUPPORT_TOPIC_TICKETS"], created(1, "billing"))
        wait_for(lambda: worker.log_text().count("POST http://127.0.0.1") >= 2, 60,
                 "failing posts logged")
    finally:
        worker.stop()
    log = worker.log_text()
    for secret in ("Am-Pass-7f3", "Hook-Pass-9c1", "Tok-Query-5e8", "am-user:", "hook:Hook"):
        assert secret not in log, secret


QUIET_RULES = """
rules:
  - name: FcrQuietLow
    kpi: fcr
    statistic: ratio
    window: 30s
    per: [queue]
    comparison: "<"
    threshold: 0.5
    min_samples: 3
    severity: page
    summary: "FCR in {queue} is {value}"
"""


def touched(n: int, queue: str, replies: int, tag: str) -> list[dict[str, object]]:
    """``n`` tickets solved now after ``replies`` agent replies (two: not resolved at
    first contact), each a second or so ago."""
    now, out = time.time(), []
    for i in range(n):
        cid = f"{queue}-{tag}-{i}"
        out.append({"event_id": f"{cid}-c", "type": "ticket.created", "occurred_at": now - 8,
                    "conversation_id": cid, "queue": queue, "channel": "email"})
        for r in range(replies):
            if r:
                out.append({"event_id": f"{cid}-m{r}", "type": "ticket.message",
                            "occurred_at": now - 6 + r, "conversation_id": cid,
                            "actor": "customer"})
            out.append({"event_id": f"{cid}-r{r}", "type": "ticket.message",
                        "occurred_at": now - 5 + r, "conversation_id": cid, "actor": "agent",
                        "agent_id": "a1"})
        out.append({"event_id": f"{cid}-s", "type": "ticket.solved", "occurred_at": now - 1,
                    "conversation_id": cid})
    return out


def test_a_window_going_quiet_pages_once_whichever_paths_run(
        services: ServiceConfig, worker_env: dict[str, str], receiver: Receiver,
        tmp_path: Path) -> None:
    """FCR below 50% fires on both paths (in-stream re-sending every 3 s, Prometheus with
    the rendered rule) into one Alertmanager; then its 30 s window goes quiet: no data.
    Both keep the alert firing (one truth for no data), so the receiver gets one firing
    notification and no resolve while it is quiet, then one resolve when FCR is healthy
    again. Before, Prometheus resolved on absence while the evaluator kept re-sending:
    Alertmanager flipped about once a minute."""
    rules, rendered = tmp_path / "alerts.yml", tmp_path / "rendered.yml"
    rules.write_text(QUIET_RULES)
    env = {**worker_env, "SUPPORT_WINDOWS": "30s,1h", "SUPPORT_ALERT_RULES": str(rules),
           "SUPPORT_ALERT_INTERVAL": str(INTERVAL_S), "SUPPORT_ALERT_RESEND": "3"}
    render(env, rules, rendered)
    am_url, am = start_alertmanager(tmp_path, receiver)
    env["SUPPORT_ALERTMANAGER_URL"] = am_url
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    prom_url, prom = start_prometheus(tmp_path, port, rendered, am_url, interval="2s")
    try:
        wait_for(lambda: sample(parse(scrape(port)), "support_redis_up") == 1, 60, "worker up")
        produce(services.bootstrap, env["SUPPORT_TOPIC_TICKETS"], touched(4, "billing", 2, "a"))

        def state() -> float | None:
            return sample(parse(scrape(port, "support_alert_state")), "support_alert_state",
                          rule="FcrQuietLow", severity="page", queue="billing")

        wait_for(lambda: state() == 2, 60, "in-stream alert firing", interval=0.2)
        wait_for(lambda: bool(prom_firing(prom_url, "FcrQuietLow")), 60,
                 "Prometheus alert firing", interval=0.5)

        def fcr() -> float | None:
            return sample(parse(scrape(port, "support_fcr_ratio")), "support_fcr_ratio",
                          window="30s", queue="billing", channel="all")

        wait_for(lambda: fcr() is None, 60, "the 30 s window quiet (no FCR series)")
        quiet_until = time.monotonic() + 30
        while time.monotonic() < quiet_until:  # ten re-sends, fifteen evaluations
            assert state() == 2, "in-stream alert left firing while quiet"
            assert prom_firing(prom_url, "FcrQuietLow"), "Prometheus resolved on no data"
            time.sleep(1)
        quiet = receiver.groups("FcrQuietLow")
        assert [n["status"] for n in quiet] == ["firing"], quiet
        firing = prom_firing(prom_url, "FcrQuietLow")[0]
        assert "no data now" in firing["annotations"]["summary"], firing

        produce(services.bootstrap, env["SUPPORT_TOPIC_TICKETS"], touched(4, "billing", 1, "b"))
        wait_for(lambda: state() == 0, 60, "in-stream alert resolved", interval=0.2)
        wait_for(lambda: not prom_firing(prom_url, "FcrQuietLow"), 60,
                 "Prometheus alert resolved", interval=0.5)
        wait_for(lambda: any(n["status"] == "resolved"
                             for n in receiver.groups("FcrQuietLow")), 30, "the resolve")
        time.sleep(3)  # a late flip would arrive by now
        assert [n["status"] for n in receiver.groups("FcrQuietLow")] == \
            ["firing", "resolved"], receiver.groups("FcrQuietLow")
    finally:
        prom.terminate()
        am.terminate()
        worker.stop()
        prom.wait(20)
        am.wait(20)
