"""The wall model in its helper process: answers come from another process, a helper
that died is replaced, and a helper whose worker was killed outright exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from serve.remote import OutOfProcessWall
from tests.support import ROOT


class _Model:
    def __init__(self, label: str) -> None:
        self.label = label
        self.samples = 0

    @property
    def windows(self) -> list[str]:
        return ["15m"]

    def snapshot(self, window: str) -> dict[str, Any]:
        return {"window": window, "label": self.label, "pid": os.getpid(),
                "samples": self.samples}

    def sample_live(self) -> None:
        self.samples += 1


def test_snapshots_come_from_the_helper_and_a_dead_helper_is_replaced() -> None:
    wall = OutOfProcessWall(_Model, ("built there",), ["15m"])
    try:
        wall.sample_live()
        doc = wall.snapshot("15m")
        assert doc["pid"] != os.getpid() and doc["label"] == "built there"
        assert doc["samples"] == 1  # the model keeps its state between calls
        os.kill(doc["pid"], signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            wall.snapshot("15m")
        again = wall.snapshot("15m")
        assert again["pid"] not in (os.getpid(), doc["pid"]) and again["samples"] == 0
    finally:
        wall.close()


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan that exited waits for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_helper_exits_when_its_worker_is_killed_outright() -> None:
    """SIGKILL or the OOM killer gives the worker no chance to stop its helper; before, each
    such crash left one helper process waiting for work forever."""
    code = ("import time\n"
            "from serve.remote import OutOfProcessWall\n"
            "from tests.unit.serve.test_remote import _Model\n"
            "wall = OutOfProcessWall(_Model, ('x',), ['15m'])\n"
            "print(wall.snapshot('15m')['pid'], flush=True)\n"
            "time.sleep(600)\n")
    worker = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert worker.stdout is not None
        helper = int(worker.stdout.readline())
    finally:
        worker.kill()
        worker.wait()
    try:
        deadline = time.monotonic() + 20
        while _running(helper):
            assert time.monotonic() < deadline, f"helper {helper} outlived its killed worker"
            time.sleep(0.05)
    finally:
        if _running(helper):
            os.kill(helper, signal.SIGKILL)
