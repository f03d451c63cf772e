"""Replaying a history through the real worker and comparing it with the batch oracle.

Shared by the oracle agreement tests and the fault tests: the comparison goes through
the `query --json` and `oracle --json` CLIs, and the DLQ is checked against exactly the
lines the schema rejects.
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
import time
from pathlib import Path

from devtools.services import ServiceConfig
from streams.errors import InvalidEvent
from streams.schema import SchemaConfig, validate
from tests.agreement import diff_rows
from tests.support import ROOT, WorkerProcess, parse, read_topic, scrape, wait_for

WINDOWS = ("5m", "15m", "1h", "24h")


COUNTERS = ("support_events_processed_total", "support_events_rejected_total",
            "support_events_duplicate_total", "support_events_late_dropped_total")


def counters(port: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for (name, _labels), v in parse(scrape(port, *COUNTERS)).items():
        if name in COUNTERS:
            out[name] = out.get(name, 0) + v
    return out


def seen(port: int) -> float:
    return sum(counters(port).values())


def cli(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "supportkpi.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def cli_background(env: dict[str, str], log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """The CLI as a child process (e.g. a paced replay a test crashes workers during); its
    output goes to ``log_path``: a minute of progress bar into an unread pipe would fill
    it and stall the child."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "supportkpi.cli", *args], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)


def small_floor_through_worker(env: dict[str, str], tmp_path: Path, seed: int,
                               how: str) -> WorkerProcess:
    """Start the worker, send it ten simulated minutes with `simulate` and `replay`, and
    require every event seen exactly once; the worker comes back stopped (for its log).
    ``how`` names the path under test (e.g. "through SASL") in timeout messages."""
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: seen(port) == 0, 60, f"worker up {how}")
        file = tmp_path / "floor.jsonl"
        cli(env, "simulate", "--backfill", "10m", "--rate", "10", "--seed", str(seed),
            "--out", str(file))
        n = sum(1 for ln in file.read_text().splitlines() if ln.strip())
        cli(env, "replay", str(file))
        wait_for(lambda: seen(port) >= n, 60, f"{n} events seen {how}")
        assert seen(port) == n
    finally:
        worker.stop()
    return worker


Table = dict[tuple[str, str], dict[str, dict]]


def rows_from_json(text: str) -> Table:
    """JSON lines of `query`/`oracle` → {(at, window or "live"): {dimension key: row}}."""
    out: Table = {}
    for line in text.splitlines():
        doc = json.loads(line)
        dims = doc.pop("dimensions")
        key = "*" if not dims else ",".join(f"{k}={v}" for k, v in dims.items())
        at = str(doc.pop("at"))
        out.setdefault((at, doc.pop("window")), {})[key] = doc
    return out


def disorder(src: Path, dst: Path, rnd: random.Random) -> int:
    """Add upstream duplicates, invalid lines and stragglers to a simulated history."""
    with gzip.open(src, "rt") as fh:
        lines = [ln.strip() for ln in fh if ln.strip()]
    out: list[str] = []
    held: list[str] = []
    for ln in lines:
        r = rnd.random()
        if r < 0.01:
            held.append(ln)  # arrives at the end: late for the watermark by then
            continue
        out.append(ln)
        if r < 0.04:
            out.append(ln)  # upstream duplicate
        elif r < 0.045:
            out.append('{"event_id": "broken", "type": "ticket.created"')  # invalid JSON
    out += held
    with gzip.open(dst, "wt") as fh:
        fh.write("\n".join(out) + "\n")
    return len(out)


def replay_and_compare(services: ServiceConfig, env: dict[str, str], tmp_path: Path,
                        file: Path, n_lines: int, ats: list[str]) -> None:
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: seen(port) == 0, 60, "worker up")
        # in file order: the stragglers of `disorder` arrive late, as the test means them to
        cli(env, "replay", str(file), "--order", "file", "--accept-late")
        try:
            wait_for(lambda: seen(port) >= n_lines, 200, f"{n_lines} lines seen", interval=1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; counters {counters(port)}; worker log tail:\n"
                                 f"{worker.log_text()[-4000:]}") from None
        assert seen(port) == n_lines, counters(port)  # not one line counted twice
        compare_with_oracle(env, file, ats, order="file")
    finally:
        worker.stop()




def agent_keys() -> frozenset[str]:
    """The row keys the agents' events make (kpi.agent_catalog)."""
    from kpi.agent_catalog import AGENTS_LIVE, AGENTS_WINDOWED

    row: dict[str, float | None] = {}
    for m in AGENTS_WINDOWED:
        m.summarize({}, row)
    return frozenset(row) | {g.key for g in AGENTS_LIVE}


def without_agents(table: Table) -> Table:
    """A table without the agents' keys, and without the rows (and live tables) only they
    made: for a floor whose agent events the conversation oracle does not read
    (devtools/oracle_agents.py checks those)."""
    keys = agent_keys()
    out: Table = {}
    for at_window, rows in table.items():
        kept = {dk: {k: v for k, v in row.items() if k not in keys}
                for dk, row in rows.items()}
        # a row only agents made has nothing else (the edges, from and to, aside)
        kept = {dk: row for dk, row in kept.items()
                if any(v for k, v in row.items() if k not in ("from", "to"))}
        if kept:
            out[at_window] = kept
    return out


def compare_with_oracle(env: dict[str, str], file: Path, ats: list[str],
                        order: str = "time", agents: bool = False) -> None:
    """Every window and the live gauges at each time, stream (Redis) against oracle (which
    models the order replay sent the file in). ``agents``: the floor had agent events as
    well, which FILE does not hold: their KPIs are left out of the comparison."""
    args = [a for w in WINDOWS for a in ("--window", w)]
    args += [a for at in ats for a in ("--at", at)]
    ours = rows_from_json(cli(env, "query", *args, "--json"))
    theirs = rows_from_json(cli(env, "oracle", str(file), *args, "--json", "--order", order))
    if agents:
        ours, theirs = without_agents(ours), without_agents(theirs)
    assert ours.keys() == theirs.keys(), sorted(set(ours) ^ set(theirs))
    assert len({at for at, _w in ours}) == len(ats)
    for (at, window), rows in sorted(ours.items()):
        problems = diff_rows(rows, theirs[(at, window)], f"[{window} at {at}]")
        assert not problems, "\n".join(problems[:30])
    for at in {at for at, _w in ours}:
        assert any(ours.get((at, w)) for w in WINDOWS), f"nothing to compare at {at}"


def invalid_lines(file: Path) -> list[bytes]:
    """The lines of FILE the schema rejects: exactly what the DLQ must hold."""
    out = []
    with gzip.open(file, "rb") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                # the real clock, as the worker: events from the future are rejected too
                validate(line, SchemaConfig(), lambda: int(time.time() * 1000))
            except InvalidEvent:
                out.append(line)
    return out


def dlq_records(services: ServiceConfig, topic: str) -> list[tuple[bytes, tuple[str, ...]]]:
    """(original bytes, (source topic, partition, offset)) of every DLQ message."""
    out = []
    for m in read_topic(services.bootstrap, topic):
        h = {k: v.decode() for k, v in m.headers}
        out.append((m.value, (h["dlq.topic"], h["dlq.partition"], h["dlq.offset"])))
    return out
