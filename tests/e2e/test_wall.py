"""The wall in a real browser on the demo path: live tiles that match /metrics, a firing
alert turns its tile red, a stopped event flow shows STALE. Saves docs/wall.png."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser import Browser
from tests.support import ROOT, free_port, parse, sample, scrape, wait_for

pytestmark = pytest.mark.e2e

RULES = """
rules:
  - name: EscalationsHighWall
    kpi: escalation
    statistic: ratio
    window: 24h
    per: []
    comparison: ">"
    threshold: 0.05
    for: 0s
    min_samples: 5
    severity: page
    summary: "{value} escalated"
"""

TILE_SERIES = {
    "frt_p90": ("support_first_response_seconds", {"quantile": "0.9"}),
    "fcr": ("support_fcr_ratio", {}),
    "escalation": ("support_escalation_ratio", {}),
    "csat": ("support_csat_ratio", {}),
}
FLOOR = {"window": "24h", "queue": "all", "channel": "all", "team": "all", "priority": "all"}


def _children(pid: int) -> list[tuple[int, str]]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().split(")")[-1].split()[1])
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append((int(d.name), cmd))
    return out


def test_wall_live_alert_stale_and_screenshot(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yml"
    rules.write_text(RULES)
    kafka, controller, redis_port, http = free_port(), free_port(), free_port(), free_port()
    env = {**os.environ, "SUPPORT_DATA_DIR": str(tmp_path / "faust"),
           "SUPPORT_ALERT_RULES": str(rules), "SUPPORT_ALERT_INTERVAL": "1",
           "SUPPORT_WALL_STALE_AFTER": "6", "SUPPORT_WALL_PUSH_INTERVAL": "1"}
    cmd = [sys.executable, "-m", "supportkpi.cli", "demo", "--state-dir", str(tmp_path / "s"),
           "--kafka-port", str(kafka), "--controller-port", str(controller),
           "--redis-port", str(redis_port), "--metrics-port", str(http), "--rate", "120"]
    log = open(tmp_path / "demo.log", "wb")  # noqa: SIM115
    demo = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    browser = None
    try:
        wait_for(lambda: sample(parse(scrape(http)), "support_redis_up") == 1, 120, "demo up")
        browser = Browser(f"http://127.0.0.1:{http}/wall?window=24h", tmp_path / "profile")

        def live_and_red() -> bool:
            return bool(browser.evaluate(
                "document.body.dataset.ready === 'true' && document.body.dataset.stale === "
                "'false' && document.getElementById('tile-escalation').classList"
                ".contains('firing')"))

        wait_for(live_and_red, 120, "live wall with a red escalation tile", interval=1)
        # the red comes from the firing alert, and the tile's colour is really red
        assert browser.evaluate("getComputedStyle(document.getElementById('tile-escalation'))"
                                ".borderLeftColor") == "rgb(217, 48, 37)"
        assert browser.evaluate("document.querySelector('.alert.firing').dataset.rule") == \
            "EscalationsHighWall"
        assert browser.evaluate("document.getElementById('tile-fcr').dataset.status") != \
            "firing"
        time.sleep(2)  # let a few more live updates land for the picture
        browser.screenshot(ROOT / "docs" / "wall.png")

        # stop the event flow: the simulator, not the worker
        sims = [pid for pid, c in _children(demo.pid) if " simulate " in c]
        assert sims, _children(demo.pid)
        for pid in sims:
            os.kill(pid, signal.SIGTERM)
        wait_for(lambda: browser.evaluate("document.body.dataset.stale") == "true", 60,
                 "STALE on the wall", interval=1)
        assert browser.evaluate("document.getElementById('stale').classList"
                                ".contains('hidden')") is False
        time.sleep(2)  # one more push after the last event: values are frozen now

        # the tiles show the numbers /metrics exposes
        tiles = browser.evaluate(
            "Object.fromEntries([...document.querySelectorAll('.tile')]"
            ".map(t => [t.id.slice(5), t.dataset.value]))")
        s = parse(scrape(http))
        for tile, (name, extra) in TILE_SERIES.items():
            want = sample(s, name, **FLOOR, **extra)
            assert want is not None and float(tiles[tile]) == pytest.approx(want, rel=1e-12), \
                (tile, tiles[tile], want)
        waiting = sample(s, "support_waiting_conversations", queue="all", channel="all")
        assert float(tiles["waiting"]) == waiting
        oldest = sample(s, "support_oldest_waiting_seconds", queue="all", channel="all")
        assert oldest is not None and abs(float(tiles["oldest_waiting"]) - oldest) < 5
    finally:
        if browser is not None:
            browser.close()
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
        print((tmp_path / "demo.log").read_text()[-3000:])
