"""The README demo command end to end: services, worker, simulator, /metrics, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.services import ServiceConfig, status
from tests.support import ROOT, free_port, parse, scrape, wait_for

pytestmark = pytest.mark.e2e


def _values(port: int, name: str) -> list[tuple[dict[str, str], float]]:
    return [(dict(labels), v) for (n, labels), v in parse(scrape(port)).items() if n == name]


def test_demo_serves_kpis_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    kafka, controller, redis_port, metrics = free_port(), free_port(), free_port(), free_port()
    state = tmp_path / "state"
    cmd = [sys.executable, "-m", "supportkpi.cli", "demo", "--state-dir", str(state),
           "--kafka-port", str(kafka), "--controller-port", str(controller),
           "--redis-port", str(redis_port), "--metrics-port", str(metrics), "--rate", "120"]
    log = open(tmp_path / "demo.log", "wb")  # noqa: SIM115
    env = {**os.environ, "SUPPORT_DATA_DIR": str(tmp_path / "faust")}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env)
    cfg = ServiceConfig(state_dir=state, kafka_port=kafka, controller_port=controller,
                        redis_port=redis_port)
    try:
        def ready() -> bool:
            names = ("support_first_response_seconds", "support_fcr_ratio",
                     "support_escalation_ratio", "support_csat_ratio")
            return all(any(lbl.get("queue") not in (None, "all") and "window" in lbl
                           for lbl, _ in _values(metrics, n)) for n in names)

        wait_for(ready, 180, "demo KPIs on /metrics", interval=1)
        frt = [v for lbl, v in _values(metrics, "support_first_response_seconds")
               if lbl.get("quantile") == "0.9" and lbl["queue"] == "billing"
               and lbl["window"] == "1h" and lbl["channel"] == "all"]
        assert frt and frt[0] > 0
        for name in ("support_fcr_ratio", "support_escalation_ratio", "support_csat_ratio"):
            vals = [v for lbl, v in _values(metrics, name)
                    if lbl["window"] == "1h" and lbl["channel"] == "all" and lbl["queue"] == "all"]
            assert vals and 0 < vals[0] < 1, (name, vals)
        assert f"http://127.0.0.1:{metrics}/metrics" in (tmp_path / "demo.log").read_text()
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        print((tmp_path / "demo.log").read_text()[-4000:])
    assert status(cfg) == {"kafka": False, "redis": False}
    with pytest.raises(OSError):
        scrape(metrics)
