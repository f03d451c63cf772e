"""The wall model in its helper process: answers come from another process, and a helper
that died is replaced."""

from __future__ import annotations

import os
import signal
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pytest

from serve.remote import OutOfProcessWall


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
