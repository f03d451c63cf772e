"""`replay`: file order, routing by type, and the --from/--to filter, against real Kafka."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from devtools.services import ServiceConfig
from tests.support import ROOT

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
        c = KafkaConsumer(topic, bootstrap_servers=services.bootstrap,
                          auto_offset_reset="earliest", consumer_timeout_ms=5000)
        out = [json.loads(m.value) for m in c]
        c.close()
        return out

    assert [e["event_id"] for e in read(worker_env["SUPPORT_TOPIC_TICKETS"])] == ["1"]
    assert [e["event_id"] for e in read(worker_env["SUPPORT_TOPIC_CHATS"])] == ["2", "3"]
