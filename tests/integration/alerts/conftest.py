"""Real Alertmanager and Prometheus (Debian packages) on loopback for the alert tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port, wait_for


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian package; make setup installs it)")
    return path


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


class Receiver:
    """A webhook receiver on loopback that records what Alertmanager notifies."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        received = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def groups(self, alertname: str) -> list[dict[str, Any]]:
        return [n for n in list(self.notifications)
                if n.get("commonLabels", {}).get("alertname") == alertname
                or any(a["labels"].get("alertname") == alertname for a in n["alerts"])]

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def _run_alertmanager(tmp_path: Path, config: str) -> tuple[str, subprocess.Popen[bytes]]:
    binary = _binary("prometheus-alertmanager")
    port = free_port()
    cfg = tmp_path / "alertmanager.yml"
    cfg.write_text(config)
    log = open(tmp_path / "alertmanager.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([binary, f"--config.file={cfg}",
                             f"--web.listen-address=127.0.0.1:{port}",
                             f"--storage.path={tmp_path / 'am-data'}",
                             "--cluster.listen-address="], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: bool(get_json(f"{url}/api/v2/status")), 30, "alertmanager up")
    except BaseException:
        proc.terminate()
        raise
    return url, proc


def start_alertmanager(tmp_path: Path, receiver: Receiver | None = None
                       ) -> tuple[str, subprocess.Popen[bytes]]:
    """Alertmanager grouping by every label (one group per distinct alert), notifying the
    receiver at once; the always-firing Watchdog goes nowhere."""
    hook = (f"    webhook_configs:\n      - url: {receiver.url}\n        send_resolved: true\n"
            if receiver else "")
    return _run_alertmanager(tmp_path, (
        "route:\n  receiver: hook\n  group_by: ['...']\n  group_wait: 1s\n"
        "  group_interval: 1s\n  repeat_interval: 1h\n  routes:\n"
        "    - {receiver: 'null', matchers: ['alertname=\"Watchdog\"']}\n"
        f"receivers:\n  - name: 'null'\n  - name: hook\n{hook}"))


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    url, proc = _run_alertmanager(
        tmp_path, 'route:\n  receiver: "null"\n  group_wait: 1s\nreceivers:\n  - name: "null"\n')
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def start_prometheus(tmp_path: Path, target_port: int, rules: Path | None,
                     alertmanager: str | None = None, interval: str = "1s",
                     ) -> tuple[str, subprocess.Popen[bytes]]:
    binary = _binary("prometheus")
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    text = (f"global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
            + (f"rule_files:\n  - {rules}\n" if rules else "")
            + "scrape_configs:\n  - job_name: support-kpi\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target_port}']\n")
    if alertmanager:
        text += ("alerting:\n  alertmanagers:\n    - static_configs:\n"
                 f"        - targets: ['{alertmanager.removeprefix('http://')}']\n")
    cfg.write_text(text)
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([binary, f"--config.file={cfg}",
                             f"--web.listen-address=127.0.0.1:{port}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=2).status == 200,
             60, "prometheus ready")
    return url, proc
