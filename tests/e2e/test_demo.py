"""The README demo command end to end, for ten simulated hours (played at 240x): the floor
stays in a steady state, the incident pages the alerts it is meant to (and nothing outside
its queue) and they resolve, the KPIs are on /metrics, and Ctrl-C stops everything even when the
demo's output goes through `tee`.

The floor has agents (schema v1.3, on the agents topic): staffed above the Erlang C need of
every queue, so UnderstaffedQueue pages nobody on the calm floor; the incident takes most of
its queue's agents away, so it pages for that queue while the incident lasts, and resolves
once they are back."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from devtools.services import ServiceConfig, status
from tests.support import ROOT, free_port, parse, read_topic, sample, scrape, wait_for

pytestmark = pytest.mark.e2e

HOURS = 10
SPEED = 240
INCIDENT = "technical@4h+45m"
FLOOR = {"queue": "all", "channel": "all", "team": "all"}  # the demo's gauges split by team


def _transitions(bootstrap: str) -> list[dict[str, object]]:
    """Every alert transition the worker published (the alerts topic), oldest first."""
    docs = [json.loads(m.value) for m in read_topic(bootstrap, "support.alerts")]
    return sorted(docs, key=lambda d: str(d["at"]))


def _kpis_present(port: int) -> None:
    s = parse(scrape(port))
    frt = sample(s, "support_first_response_seconds", quantile="0.9", queue="billing",
                 window="1h", channel="all", team="all", priority="all")
    assert frt is not None and frt > 0
    for name in ("support_fcr_ratio", "support_escalation_ratio", "support_csat_ratio"):
        v = sample(s, name, window="1h", queue="all", channel="all", team="all",
                   priority="all")
        assert v is not None and 0 < v < 1, (name, v)
    # the agents: live gauges per queue and per team (the demo's gauge dimensions), the
    # staffing need per queue, occupancy over a window
    for team in ("tier1", "tier2"):
        v = sample(s, "support_agents_staffed", queue="all", channel="all", team=team)
        assert v is not None and v > 0, (team, v)
    gap = sample(s, "support_staffing_gap_agents", queue="billing", channel="all", team="all")
    assert gap is not None and gap < 0, gap  # billing has agents to spare
    occupancy = sample(s, "support_agent_occupancy_ratio", window="1h", queue="all",
                       channel="all", team="all", priority="all")
    assert occupancy is not None and 0 < occupancy < 1, occupancy


def _ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def _understaffed(transitions: list[dict[str, object]], log: str) -> None:
    """UnderstaffedQueue fires for technical once, while the incident lasts (the simulator
    says when, on the event clock), resolves once its agents are back, and never fires for
    another queue: the calm floor is staffed."""
    m = re.search(r"incident: technical unstaffed from (\S+) to (\S+)", log)
    assert m, log[-2000:]
    start, end = _ms(m.group(1)), _ms(m.group(2))
    ours = [d for d in transitions if d["rule"] == "UnderstaffedQueue"
            and d["state"] in ("firing", "resolved")]
    assert {json.dumps(d["dimensions"]) for d in ours} == {'{"queue": "technical"}'}, ours
    assert [d["state"] for d in ours] == ["firing", "resolved"], ours
    fired, resolved = (_ms(str(d["at"])) for d in ours)
    assert start + 300_000 <= fired < end, (m.groups(), ours)  # after its `for: 5m`
    assert end <= resolved < end + 900_000, (m.groups(), ours)


@pytest.mark.timeout(900)
def test_ten_simulated_hours_steady_floor_one_incident_and_ctrl_c(tmp_path: Path) -> None:
    kafka, controller, redis_port, metrics = free_port(), free_port(), free_port(), free_port()
    state = tmp_path / "state"
    cmd = [sys.executable, "-m", "supportkpi.cli", "demo", "--state-dir", str(state),
           "--kafka-port", str(kafka), "--controller-port", str(controller),
           "--redis-port", str(redis_port), "--metrics-port", str(metrics),
           "--history", f"{HOURS}h", "--speed", str(SPEED), "--incident", INCIDENT,
           "--seed", "11", "--rate", "20"]  # enough first responses at night for p90's 10
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    started = time.time()
    # as `make demo | tee log`: Ctrl-C kills tee too, and the demo must still stop it all
    proc = subprocess.Popen(["bash", "-c", 'exec "$@" 2>&1 | tee "$LOG" >/dev/null', "demo",
                             *cmd], cwd=ROOT, start_new_session=True,
                            env={**env, "LOG": str(tmp_path / "demo.log")})
    cfg = ServiceConfig(state_dir=state, kafka_port=kafka, controller_port=controller,
                        redis_port=redis_port)
    waiting: list[float] = []
    oldest: list[float] = []
    try:
        wait_for(lambda: sample(parse(scrape(metrics)), "support_redis_up") == 1, 180,
                 "the demo's worker")

        def caught_up() -> bool:  # the simulated clock reached the real one
            s = parse(scrape(metrics))
            for name, into in (("support_waiting_conversations", waiting),
                               ("support_oldest_waiting_seconds", oldest)):
                v = sample(s, name, **FLOOR)
                if v is not None:
                    into.append(v)
            last = sample(s, "support_last_event_timestamp_seconds")
            return last is not None and last > started - 60

        wait_for(caught_up, HOURS * 3600 / SPEED + 240, "ten simulated hours", interval=1)
        time.sleep(3)  # the last evaluations on the event clock
        _kpis_present(metrics)
        transitions = _transitions(cfg.bootstrap)
        log = (tmp_path / "demo.log").read_text(errors="replace")
        assert f"http://127.0.0.1:{metrics}/wall" in log
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        print((tmp_path / "demo.log").read_text(errors="replace")[-4000:])
    # steady state: a backlog that is worked off, never one that only grows
    # enough points over the 150 s to tell a worked-off backlog from a growing one (one a
    # second, but a scrape of this floor takes 1-4 s while the worker plays it at 240x)
    assert len(waiting) >= 30, len(waiting)
    assert max(waiting) < 300, max(waiting)
    assert max(oldest) < 1800, max(oldest)  # below OldestWaitingTooOld's threshold
    # the incident pages exactly FirstResponseP90High for technical, which then resolves.
    # Only pages are pinned. The simulated history is anchored to the wall clock, so each
    # run is a different floor, and a small queue's 1h FCR rests on ~25-30 conversations.
    # One CI run saw FcrLow (a warning) fire and resolve for sales. In five other floors
    # the oracle's lowest queue FCR was 0.61-0.74 and never held under 0.6 for 10 minutes,
    # so whether that was chance or the stream is not settled (see the stop's note).
    # SlaBreachingNow pages without a `for` (a breach is a fact), so on the floors where
    # more than 15 of technical's chats wait past their 2-minute target at once before
    # giving up, the incident pages that too (one CI floor did): allowed for technical
    # only, and it must resolve once technical is staffed again. UnderstaffedQueue pages
    # for technical during the incident (_understaffed). Nothing else pages.
    _understaffed(transitions, log)
    fired: set[tuple[str, str]] = set()
    last: dict[tuple[str, str], str] = {}  # each page's latest firing/resolved state
    for d in transitions:
        if d["severity"] == "page" and d["state"] in ("firing", "resolved"):
            page = (str(d["rule"]), json.dumps(d["dimensions"], sort_keys=True))
            last[page] = str(d["state"])
            if d["state"] == "firing":
                fired.add(page)
    assert ("FirstResponseP90High", '{"queue": "technical"}') in fired, transitions
    others = fired - {("FirstResponseP90High", '{"queue": "technical"}'),
                      ("UnderstaffedQueue", '{"queue": "technical"}')}
    assert all(rule == "SlaBreachingNow" and json.loads(dims)["queue"] == "technical"
               for rule, dims in others), transitions
    states = [d["state"] for d in transitions if d["rule"] == "FirstResponseP90High"
              and d["state"] in ("firing", "resolved")]
    assert states == ["firing", "resolved"], transitions
    assert all(last[page] == "resolved" for page in others), transitions
    # Ctrl-C stopped everything the demo started
    assert status(cfg) == {"kafka": False, "redis": False}
    with pytest.raises(OSError):
        scrape(metrics)
