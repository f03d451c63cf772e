"""Real Alertmanager and Prometheus (Debian packages) on loopback for the alert tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    binary = _binary("prometheus-alertmanager")
    port = free_port()
    cfg = tmp_path / "alertmanager.yml"
    cfg.write_text('route:\n  receiver: "null"\n  group_wait: 1s\nreceivers:\n  - name: "null"\n')
    log = open(tmp_path / "alertmanager.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([binary, f"--config.file={cfg}",
                             f"--web.listen-address=127.0.0.1:{port}",
                             f"--storage.path={tmp_path / 'am-data'}",
                             "--cluster.listen-address="], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: bool(get_json(f"{url}/api/v2/status")), 30, "alertmanager up")
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def start_prometheus(tmp_path: Path, target_port: int,
                     rules: Path) -> tuple[str, subprocess.Popen[bytes]]:
    binary = _binary("prometheus")
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {rules}\n"
        "scrape_configs:\n  - job_name: support-kpi\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target_port}']\n")
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([binary, f"--config.file={cfg}",
                             f"--web.listen-address=127.0.0.1:{port}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=2).status == 200,
             60, "prometheus ready")
    return url, proc
