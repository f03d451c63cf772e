"""Helpers for tests that use real servers: free ports, worker processes, scraping."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of each process whose parent is ``pid``."""
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int, *names: str) -> str:
    """The worker's /metrics; with ``names`` only those families (``name[]=``), always
    rendered for the request: a full render over 0.1 s is shared for up to
    SUPPORT_METRICS_CACHE seconds, too stale for a test polling its progress."""
    query = "?" + "&".join(f"name[]={n}" for n in names) if names else ""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics{query}", timeout=10) as r:
        return str(r.read().decode())


def parse(text: str) -> Samples:
    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def read_topic(bootstrap: str, topic: str, timeout: float = 60) -> list[Any]:
    """Every record of ``topic`` up to its end offsets as of the call (kafka-python
    ``ConsumerRecord``s, each partition in order): what a test reads once the worker said it
    wrote them, with no idle timeout to wait out."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end = c.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(c.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: not read to its end offsets {end} in {timeout}s")
            for records in c.poll(timeout_ms=200).values():
                out.extend(records)
        return out
    finally:
        c.close()


def wait_for(cond: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    """Poll ``cond``; fails at once, with its log, when a started worker died meanwhile."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        for w in list(_RUNNING):
            w.assert_running()
        try:
            if cond():
                return
        except Exception as exc:  # server not up yet
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc})")


_RUNNING: set[WorkerProcess] = set()


class WorkerProcess:
    """The real worker (`support-kpi worker`) as a child process."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "supportkpi.cli", "worker"],
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     cwd=ROOT, start_new_session=True)
        _RUNNING.add(self)
        return self

    def assert_running(self) -> None:
        """A worker that exits on its own is a failure of the test, reported with its log."""
        if self.proc is not None and self.proc.poll() is not None:
            _RUNNING.discard(self)
            raise AssertionError(f"worker exited with code {self.proc.returncode}; log tail:\n"
                                 f"{self.log_text()[-5000:]}")

    def expect_exit(self, timeout: float) -> int:
        """Wait for a worker that is meant to exit on its own (a fault hook); its code."""
        _RUNNING.discard(self)
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()  # not left running into the tests after this one
            raise AssertionError(f"worker did not exit within {timeout}s; log tail:\n"
                                 f"{self.log_text()[-4000:]}") from None

    def kill(self) -> None:
        _RUNNING.discard(self)
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        _RUNNING.discard(self)
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def worker_start_up_error(env: Mapping[str, str], timeout: float = 120) -> str:
    """Run a worker that must refuse to start: its output, after checking it exited non-zero
    without a traceback (a start-up mistake is a line a person can act on)."""
    proc = subprocess.run([sys.executable, "-m", "supportkpi.cli", "worker"], cwd=ROOT,
                          env={**os.environ, **env, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert "Traceback" not in out, out[-3000:]
    return out


def promtool() -> str:
    """The promtool binary; skips the test (saying why) only when it is not installed."""
    import shutil

    import pytest

    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool not installed (Debian package 'prometheus'; make setup installs it)")
    return tool


def promtool_check_metrics(text: str) -> None:
    """Run `promtool check metrics` on an exposition."""
    proc = subprocess.run([promtool(), "check", "metrics"], input=text.encode(),
                          capture_output=True)
    out = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 0 and not out.strip(), f"promtool check metrics:\n{out}"


def _answers(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
        c.sendall(b"PING\r\n")
        return c.recv(64).startswith((b"+PONG", b"-NOAUTH"))


class OwnRedis:
    """A redis-server of this test only, with an fsync-always AOF so a stop loses nothing."""

    def __init__(self, base: Path, *extra: str) -> None:
        self.base = base
        self.extra = list(extra)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        base.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.base), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             *self.extra],
            stdout=open(self.base / "redis.log", "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
        OWN_REDIS.add(self)
        wait_for(lambda: _answers(self.port), 20, "own redis up")
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


OWN_REDIS: set[OwnRedis] = set()  # started by the current test; stopped after it


class LatencyProxy:
    """A loopback TCP proxy in front of a real server that, while ``delaying`` is set,
    holds some of the server's replies back (chunk by chunk, order kept) for a random
    time: a slow Redis, as seen by clients whose timeouts cancel calls mid-reply."""

    def __init__(self, upstream_port: int, *, chance: float, max_delay: float,
                 seed: int = 7) -> None:
        import random

        self.upstream_port = upstream_port
        self.port = free_port()
        self.chance = chance
        self.max_delay = max_delay
        self.delaying = True
        self.delayed_chunks = 0
        self._rng = random.Random(seed)
        self._loop: Any = None
        self._thread: Any = None
        self._stopping: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> LatencyProxy:
        import asyncio
        import threading

        ready = threading.Event()

        async def pump(reader: Any, writer: Any, slow: bool) -> None:
            try:
                while data := await reader.read(65536):
                    if slow and self.delaying and self._rng.random() < self.chance:
                        self.delayed_chunks += 1
                        await asyncio.sleep(self._rng.uniform(0, self.max_delay))
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        async def handle(client_r: Any, client_w: Any) -> None:
            try:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            except OSError:
                client_w.close()
                return
            await asyncio.gather(pump(client_r, up_w, False), pump(up_r, client_w, True))

        async def main() -> None:
            self._stopping = asyncio.Event()
            server = await asyncio.start_server(handle, "127.0.0.1", self.port)
            ready.set()
            await self._stopping.wait()
            server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in others:
                t.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(main())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)
