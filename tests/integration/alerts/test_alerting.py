"""Alerts end to end: the real worker drives a KPI across a threshold; support_alert_state,
the support.alerts topic and a real Alertmanager follow; a restart neither re-pages nor
forgets; and a real Prometheus loaded with the rendered rules fires the same alert."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from devtools.services import ServiceConfig
from tests.integration.alerts.conftest import get_json, start_prometheus
from tests.support import ROOT, WorkerProcess, parse, read_topic, sample, scrape, wait_for

pytestmark = pytest.mark.integration

RULES = """
rules:
  - name: EscalationsHigh
    kpi: escalation
    statistic: ratio
    window: 5m
    per: [queue]
    comparison: ">"
    threshold: 0.5
    clear: 0.4
    for: 2s
    min_samples: 3
    severity: page
    labels: {team: floor-leads}
    summary: "{value} of {queue} conversations escalated over {window}"
"""


def conversations(n: int, queue: str, escalated: bool, prefix: str) -> list[dict[str, object]]:
    now = time.time()
    out: list[dict[str, object]] = []
    for i in range(n):
        cid = f"{prefix}-{i}"
        t = now - 60 + i * 0.01
        out.append({"event_id": f"{cid}-1", "type": "ticket.created", "occurred_at": t,
                    "conversation_id": cid, "queue": queue, "channel": "email"})
        if escalated:
            out.append({"event_id": f"{cid}-2", "type": "ticket.escalated", "occurred_at": t + 5,
                        "conversation_id": cid})
        out.append({"event_id": f"{cid}-3", "type": "ticket.solved", "occurred_at": t + 10,
                    "conversation_id": cid})
    return out


def produce(bootstrap: str, topic: str, events: list[dict[str, object]]) -> None:
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for e in events:
        p.send(topic, key=str(e["conversation_id"]).encode(), value=json.dumps(e).encode())
    p.flush()
    p.close()


def alert_state(port: int) -> float | None:
    """The rule's state now: the family asked for by name is rendered for the request (a
    full render may be a shared one up to SUPPORT_METRICS_CACHE old, which can miss a
    two-second pending state entirely)."""
    return sample(parse(scrape(port, "support_alert_state")), "support_alert_state",
                  rule="EscalationsHigh", severity="page", queue="billing")


def transitions(bootstrap: str, topic: str) -> list[dict[str, object]]:
    return [json.loads(m.value) for m in read_topic(bootstrap, topic)]


def am_alerts(url: str) -> list[dict[str, object]]:
    return [a for a in get_json(f"{url}/api/v2/alerts")  # type: ignore[union-attr]
            if a["labels"].get("alertname") == "EscalationsHigh"]


def test_worker_alerts_through_topic_gauge_and_alertmanager(
        services: ServiceConfig, worker_env: dict[str, str], alertmanager: str,
        tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yml"
    rules.write_text(RULES)
    env = {**worker_env, "SUPPORT_ALERT_RULES": str(rules),
           "SUPPORT_ALERTMANAGER_URL": alertmanager, "SUPPORT_ALERT_INTERVAL": "0.5",
           "SUPPORT_ALERT_RESEND": "2"}
    port = int(env["SUPPORT_METRICS_PORT"])
    tickets, alerts_topic = env["SUPPORT_TOPIC_TICKETS"], env["SUPPORT_TOPIC_ALERTS"]
    worker = WorkerProcess(env, tmp_path / "w1.log").start()
    try:
        wait_for(lambda: sample(parse(scrape(port)), "support_redis_up") == 1, 60, "worker up")
        # 4 billing conversations, all escalated: ratio 1.0 > 0.5 with 4 >= 3 samples
        produce(services.bootstrap, tickets, conversations(4, "billing", True, "esc"))
        observed: list[float | None] = []

        def firing() -> bool:
            observed.append(alert_state(port))
            return observed[-1] == 2

        wait_for(firing, 60, "alert firing on /metrics", interval=0.1)
        assert 1 in observed  # pending was visible for the `for` duration (2 s)
        docs = transitions(services.bootstrap, alerts_topic)
        assert [d["state"] for d in docs] == ["pending", "firing"]
        assert docs[1]["dimensions"] == {"queue": "billing"} and docs[1]["value"] == 1.0
        assert docs[1]["summary"] == "100% of billing conversations escalated over 5m"
        wait_for(lambda: len(am_alerts(alertmanager)) == 1, 30, "alert in Alertmanager")
        (am,) = am_alerts(alertmanager)
        assert am["status"]["state"] == "active"  # type: ignore[index]
        assert am["labels"] == {"alertname": "EscalationsHigh", "severity": "page",
                                "team": "floor-leads", "queue": "billing", "window": "5m"}

        # restart while firing: no second page, state remembered
        worker.stop()
        worker = WorkerProcess(env, tmp_path / "w2.log").start()
        wait_for(lambda: sample(parse(scrape(port)), "support_redis_up") == 1, 60, "restarted")
        wait_for(lambda: "alert evaluation starts" in worker.log_text(), 30, "evaluator again")
        time.sleep(3)
        assert alert_state(port) == 2
        assert [d["state"] for d in transitions(services.bootstrap, alerts_topic)] == \
            ["pending", "firing"]

        # 12 healthy conversations: 4 / 16 = 0.25 <= 0.4 (clear) → resolved, exactly once
        produce(services.bootstrap, tickets, conversations(12, "billing", False, "ok"))
        wait_for(lambda: alert_state(port) == 0, 60, "alert resolved on /metrics")
        wait_for(lambda: not am_alerts(alertmanager), 30, "resolved in Alertmanager")
        time.sleep(2)
        states = [d["state"] for d in transitions(services.bootstrap, alerts_topic)]
        assert states == ["pending", "firing", "resolved"]
    finally:
        worker.stop()
        print(worker.log_text()[-3000:])


def test_prometheus_with_rendered_rules_fires(services: ServiceConfig,
                                              worker_env: dict[str, str],
                                              tmp_path: Path) -> None:
    import subprocess
    import sys

    rules = tmp_path / "alerts.yml"
    rules.write_text(RULES)
    rendered = tmp_path / "rendered.rules.yml"
    env = {**worker_env, "SUPPORT_ALERT_RULES": str(rules)}
    proc = subprocess.run([sys.executable, "-m", "supportkpi.cli", "alerts", "render",
                           "--out", str(rendered)], cwd=ROOT, capture_output=True, text=True,
                          env={**__import__("os").environ, **env})
    assert proc.returncode == 0, proc.stderr
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "w.log").start()
    prom_url, prom = start_prometheus(tmp_path, port, rendered)
    try:
        wait_for(lambda: sample(parse(scrape(port)), "support_redis_up") == 1, 60, "worker up")
        produce(services.bootstrap, env["SUPPORT_TOPIC_TICKETS"],
                conversations(4, "billing", True, "esc"))

        def prom_firing() -> bool:
            doc = get_json(f"{prom_url}/api/v1/alerts")
            return any(a["labels"].get("alertname") == "EscalationsHigh"
                       and a["labels"].get("queue") == "billing" and a["state"] == "firing"
                       for a in doc["data"]["alerts"])  # type: ignore[index]

        wait_for(prom_firing, 90, "Prometheus alert firing", interval=1)
        doc = get_json(f"{prom_url}/api/v1/alerts")
        names = {a["labels"]["alertname"] for a in doc["data"]["alerts"]}  # type: ignore[index]
        assert "Watchdog" in names and "SupportPipelineSilent" not in names
    finally:
        prom.terminate()
        prom.wait(20)
        worker.stop()
