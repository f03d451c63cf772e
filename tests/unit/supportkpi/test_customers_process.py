"""The worker's watch over its customers process (supportkpi.worker.CustomersProcess),
with a real child process that fails at once and a clock of the test's own."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from supportkpi.settings import Settings
from supportkpi.worker import CHILD_CHECK_S, CustomersProcess


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def exited(child: CustomersProcess) -> None:
    assert child.proc is not None
    child.proc.wait(30)


def test_a_process_that_keeps_failing_is_restarted_less_and_less_often(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    settings = Settings(data_dir=tmp_path)
    child = CustomersProcess(settings, clock, (sys.executable, "-c", "raise SystemExit(3)"))
    child.start()
    pids = []
    for pause in (CHILD_CHECK_S, 2 * CHILD_CHECK_S, 4 * CHILD_CHECK_S):
        exited(child)
        assert child.proc is not None
        pids.append(child.proc.pid)
        child.check()  # seen exited: waits ``pause`` before the next start
        assert child.proc.pid == pids[-1]
        clock.now += pause - 0.5
        child.check()
        assert child.proc.pid == pids[-1], "started again before its pause"
        clock.now += 0.5
        child.check()
        assert child.proc.pid != pids[-1]
    assert "exited with code 3; starting it again in 20s" in caplog.text
    child.stop()


def test_a_process_that_ran_a_while_is_restarted_at_once(tmp_path: Path) -> None:
    clock = Clock()
    child = CustomersProcess(Settings(data_dir=tmp_path), clock,
                             (sys.executable, "-c", "raise SystemExit(0)"))
    child.start()
    exited(child)
    clock.now += 3600  # it had run for an hour
    assert child.proc is not None
    first = child.proc.pid
    child.check()
    assert child.proc.pid != first
    child.stop()


def test_stop_ends_a_running_process(tmp_path: Path) -> None:
    child = CustomersProcess(Settings(data_dir=tmp_path), time.monotonic,
                             (sys.executable, "-c", "import time; time.sleep(60)"))
    child.start()
    proc = child.proc
    assert proc is not None
    child.stop()
    assert proc.poll() is not None and child.proc is None
