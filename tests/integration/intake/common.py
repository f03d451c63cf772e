"""What the intake tests share: the real intake started and listening, a delivery to it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support import ROOT, free_port


def post(port: int, vendor: str, body: bytes, headers: dict[str, str]) -> int:
    """POST a webhook body with the vendor's signature headers; the HTTP status."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/{vendor}", data=body,
                                 method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def intake_up(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/webhooks", timeout=2) as r:
        return r.status == 200


def start_intake(env: dict[str, str], log: Path, timeout: float = 90
                 ) -> subprocess.Popen[bytes]:
    """``support-kpi intake`` on ``env``'s SUPPORT_INTAKE_PORT, once it answers.

    An intake that exits is a failure reported with its log at once, not a minute of
    refused connections; one that lost its port to another process between free_port()
    and its bind (a race of the parallel suite, not of the product) is started again on
    a fresh port, which is written back into ``env``."""
    for attempt in range(2):
        mark = log.stat().st_size if log.exists() else 0
        proc = subprocess.Popen([sys.executable, "-m", "supportkpi.cli", "intake"], cwd=ROOT,
                                env={**os.environ, **env}, stdout=log.open("ab"),
                                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if intake_up(int(env["SUPPORT_INTAKE_PORT"])):
                    return proc
            except OSError:
                time.sleep(0.5)
        text = log.read_bytes()[mark:].decode(errors="replace")
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
            raise AssertionError(f"intake not up after {timeout}s; log:\n{text[-4000:]}")
        if attempt == 0 and "address already in use" in text.lower():
            env["SUPPORT_INTAKE_PORT"] = str(free_port())
            continue
        raise AssertionError(f"intake exited with code {proc.returncode}; log:\n{text[-4000:]}")
    raise AssertionError("unreachable")
