"""Zendesk's, Intercom's and Freshdesk's documented webhooks, each signed with the
vendor's own scheme (Freshdesk, which does not sign, with the rule's token header),
through the real intake, Kafka, the worker's normalizer agent and Redis: the KPIs in
`query` are the ones worked out for the fixtures (tests/unit/connectors), a delivery
sent three times counts once, and a wrongly signed one gets 401 and counts nothing."""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devtools.services import ServiceConfig
from tests.integration.intake import common
from tests.replay_check import cli, counters, rows_from_json, seen
from tests.support import ROOT, WorkerProcess, free_port, wait_for

SECRET = "vendor-webhook-secret-77b1"


def zendesk_headers(body: bytes, secret: str) -> dict[str, str]:
    ts = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = base64.b64encode(hmac.digest(secret.encode(), ts.encode() + body, "sha256"))
    return {"X-Zendesk-Webhook-Signature": sig.decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": ts}


def intercom_headers(body: bytes, secret: str) -> dict[str, str]:
    return {"X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body,
                                                  hashlib.sha1).hexdigest()}


def freshdesk_headers(body: bytes, secret: str) -> dict[str, str]:
    return {"X-Support-Kpi-Token": secret}  # Freshdesk does not sign: the rule's header


# vendor → (signer, mapped events, end of the story, hand-computed KPIs of the floor row)
CASES: dict[str, tuple[Callable[[bytes, str], dict[str, str]], int, str, dict[str, float]]] = {
    "zendesk": (zendesk_headers, 8, "2025-02-11T17:00:00Z",
                {"frt_mean_seconds": 480, "response_mean_seconds": 510,
                 "resolution_mean_seconds": 7200}),
    "intercom": (intercom_headers, 8, "2023-11-14T23:00:00Z",
                 {"frt_mean_seconds": 90, "response_mean_seconds": 170,
                  "resolution_mean_seconds": 600, "csat_ratio": 1.0}),
    "freshdesk": (freshdesk_headers, 7, "2026-03-02T12:00:00Z",
                  {"frt_mean_seconds": 1200, "response_mean_seconds": 1500,
                   "resolution_mean_seconds": 7200}),
}


def post(port: int, vendor: str, body: bytes, secret: str = SECRET) -> int:
    return common.post(port, vendor, body, CASES[vendor][0](body, secret))


@pytest.mark.parametrize("vendor", list(CASES))
def test_vendor_webhooks_to_kpis_once_each(services: ServiceConfig, worker_env: dict[str, str],
                                           ns: str, tmp_path: Path, vendor: str) -> None:
    env = {**worker_env, "SUPPORT_CONNECTORS": vendor, "SUPPORT_TOPIC_RAW_PREFIX": f"{ns}.raw",
           f"SUPPORT_{vendor.upper()}_WEBHOOK_SECRET": SECRET,
           "SUPPORT_INTAKE_PORT": str(free_port()), "SUPPORT_READ_CLOCK": "event"}
    fixtures = sorted((ROOT / "tests/fixtures/connectors" / vendor).glob("*.json"))
    bodies = [json.dumps(json.loads(f.read_text())["payload"]).encode() for f in fixtures]
    _sign, mapped, end, want = CASES[vendor]
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    intake = None
    try:
        wait_for(lambda: seen(port) == 0, 60, "worker up")
        intake = common.start_intake(env, tmp_path / "intake.log")
        intake_port = int(env["SUPPORT_INTAKE_PORT"])  # a fresh one if the first was taken
        assert post(intake_port, vendor, bodies[0], secret="not the secret") == 401
        for body in bodies:
            assert post(intake_port, vendor, body) == 200
        for _ in range(2):  # the vendor retried one delivery: three in all
            assert post(intake_port, vendor, bodies[-1]) == 200
        dup = len(_events_of(vendor, bodies[-1]))  # events each repeat carries again
        # the agent events the bodies map to (schema v1.3, the agents topic): counted
        # once each; a part two bodies both carry is a duplicate the second time
        agent_ids = [e["event_id"] for b in bodies for e in _events_of(vendor, b)
                     if str(e["type"]).startswith("agent.")]
        agents, again = len(set(agent_ids)), len(agent_ids) - len(set(agent_ids))
        wait_for(lambda: seen(port) == mapped + agents + again + 2 * dup, 60,
                 "every mapped event seen")
        assert counters(port)["support_events_processed_total"] == mapped + agents
        at = str(float(calendar.timegm(time.strptime(end, "%Y-%m-%dT%H:%M:%SZ"))))
        row = rows_from_json(cli({**os.environ, **env}, "query", "--window", "24h", "--at", at,
                                 "--json"))[(at, "24h")]["*"]
        for key, value in want.items():
            assert row[key] == value, (key, row[key])
        assert SECRET not in (tmp_path / "intake.log").read_text() + worker.log_text()
    finally:
        if intake is not None:
            intake.terminate()
            intake.wait(20)
        worker.stop()


def _events_of(vendor: str, body: bytes) -> list[dict[str, object]]:
    from connectors.base import Context
    from connectors.registry import VENDORS

    return VENDORS[vendor].normalize(json.loads(body), Context())
