"""The benchmark suite's --quick mode as a smoke test: it runs end to end (no timing
assertions: speed is measured in docs/benchmarks.md, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.bench_smoke]


@pytest.mark.timeout(900)
def test_bench_quick_runs(tmp_path: Path) -> None:
    ports = ["--kafka-port", str(free_port()), "--redis-port", str(free_port()),
             "--state-dir", str(tmp_path / "services")]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.run", "--quick", "--no-write", "--down", *ports],
            cwd=ROOT, capture_output=True, text=True, timeout=840)
    finally:  # a bench killed by its timeout cannot stop what it started: stop it here
        subprocess.run([sys.executable, "-m", "supportkpi.cli", "services", "down", *ports],
                       cwd=ROOT, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for heading in ("## Throughput", "## Event-to-metric latency", "## Read side",
                    "## Redis memory", "## Memory over time", "## Targets",
                    "## Where the time goes"):
        assert heading in proc.stdout
    assert "ours / baseline" in proc.stdout
    assert "plain Faust agent (age on arrival)" in proc.stdout
