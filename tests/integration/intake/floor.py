"""A worker and an intake with every connector on a test's own topics, and the real
fixtures (tests/fixtures/connectors/real) signed as each vendor signs."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import gzip
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.intake import common
from tests.replay_check import cli, compare_with_oracle, rows_from_json, seen
from tests.support import ROOT, WorkerProcess, read_topic, wait_for

SECRET = "real-traffic-secret-6d2e"
REAL = ROOT / "tests/fixtures/connectors/real"
VENDORS = ("chatwoot", "zendesk", "intercom", "freshdesk")


def real(name: str) -> Any:
    """The payload of a real fixture, ``vendor/NN_name``."""
    return copy.deepcopy(json.loads((REAL / f"{name}.json").read_text())["payload"])


def sign(vendor: str, body: bytes) -> dict[str, str]:
    if vendor == "chatwoot":
        ts = str(int(time.time()))
        return {"X-Chatwoot-Timestamp": ts, "X-Chatwoot-Signature": "sha256=" + hmac.new(
            SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()}
    if vendor == "zendesk":
        ts = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        sig = base64.b64encode(hmac.digest(SECRET.encode(), ts.encode() + body, "sha256"))
        return {"X-Zendesk-Webhook-Signature": sig.decode(),
                "X-Zendesk-Webhook-Signature-Timestamp": ts}
    if vendor == "intercom":
        return {"X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), body,
                                                      hashlib.sha1).hexdigest()}
    return {"X-Support-Kpi-Token": SECRET}


@dataclass
class Floor:
    """A worker and an intake with every connector, on this test's own topics."""

    env: dict[str, str]
    worker: WorkerProcess
    tmp: Path

    @property
    def port(self) -> int:
        return int(self.env["SUPPORT_METRICS_PORT"])

    def post(self, vendor: str, doc: Any, headers: dict[str, str] | None = None) -> int:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return common.post(int(self.env["SUPPORT_INTAKE_PORT"]), vendor, body,
                           headers if headers is not None else sign(vendor, body))

    def import_(self, vendor: str, *docs: Any) -> str:
        files = []
        for i, doc in enumerate(docs):
            files.append(self.tmp / f"{vendor}-export-{i}.json")
            files[-1].write_text(json.dumps(doc))
        proc = subprocess.run([sys.executable, "-m", "supportkpi.cli", "import", vendor,
                               *map(str, files)], cwd=ROOT, env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stderr

    def applied(self, n: int, what: str) -> None:
        wait_for(lambda: seen(self.port) >= n, 60, what)

    def row(self, at: float, dims: str = "*", window: str = "24h") -> dict[str, Any]:
        out = cli({**os.environ, **self.env}, "query", "--window", window, "--at", str(at),
                  "--json")
        return rows_from_json(out)[(str(float(at)), window)].get(dims, {})

    def dlq_reasons(self) -> list[str]:
        return [dict(m.headers)["dlq.reason"].decode()
                for m in read_topic(self.env["SUPPORT_KAFKA_BOOTSTRAP"],
                                    self.env["SUPPORT_TOPIC_DLQ"])]

    def events(self) -> list[dict[str, Any]]:
        """Every schema event on the floor's input topics (the webhooks' as the worker
        mapped them, and the imports'), duplicates included."""
        return [json.loads(m.value)
                for topic in ("SUPPORT_TOPIC_TICKETS", "SUPPORT_TOPIC_CHATS")
                for m in read_topic(self.env["SUPPORT_KAFKA_BOOTSTRAP"], self.env[topic])]

    def agent_events(self) -> list[dict[str, Any]]:
        """Every agent event (schema v1.3) on the floor's agents topic, duplicates included."""
        return [json.loads(m.value) for m in read_topic(self.env["SUPPORT_KAFKA_BOOTSTRAP"],
                                                        self.env["SUPPORT_TOPIC_AGENTS"])]

    def agrees_with_oracle(self, ats: list[float]) -> None:
        """Every window at each time, the store against the batch oracle over the union of
        the input topics (the oracle counts an event id once)."""
        file = self.tmp / "union.jsonl.gz"
        with gzip.open(file, "wt") as fh:
            fh.writelines(json.dumps(e) + "\n" for e in self.events())
        compare_with_oracle({**os.environ, **self.env}, file, [str(float(a)) for a in ats],
                            agents=bool(self.agent_events()))
