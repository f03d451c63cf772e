"""The worker process, wired: topics, the HTTP read side, the Faust app and its alert timer.

This is where the rooms meet. Each part gets plain values from the settings: the stream
side a :class:`streams.config.StreamConfig`, the alert runner its rules, a window reader
and a publisher onto the alerts topic, the read side a registry and a wall model.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import faust
import redis
from prometheus_client import CollectorRegistry

from alerts.notify import HttpNotifier, Publisher
from alerts.rules import Rule
from alerts.runner import AlertRunner
from alerts.store import AlertStore
from kpi.config import dimensions_of
from serve.http import build_app, serve_in_thread
from serve.metrics import KpiCollector, PipelineCollector
from serve.remote import OutOfProcessWall, Wall
from serve.wall import WallModel
from streams.app import Send, create_app, topic_sender, tune_gc
from streams.errors import StreamError
from streams.health import StoreHealth
from streams.restart import BEFORE_RESTART, restarts_so_far
from streams.retry import doubling
from streams.telemetry import WorkerTelemetry
from streams.topics import ensure_topics
from streams.transport import check_supported
from supportkpi import log_filter
from supportkpi.preflight import kafka_unreachable, port_taken
from supportkpi.settings import Settings, SettingsError, load_alert_rules, redact_url
from windows.clients import cluster_mismatch, connect, connect_async, eviction_policy
from windows.keys import Keys
from windows.reader import WindowReader

log = logging.getLogger(__name__)

CHILD_CHECK_S = 5.0  # how often the worker looks at its customers process
QUICK_EXIT_S = 60.0  # a customers process that exits sooner is restarted after a pause


def _reader(settings: Settings) -> WindowReader:
    # redis-py's pool is safe across threads: one read side for /metrics and the wall
    return WindowReader(connect(settings.redis_url, **settings.redis_options()),
                        Keys(settings.key_prefix), settings.kpi_config(), time.time,
                        **settings.read_options())


def store_answers(reader: WindowReader) -> bool:
    try:
        return bool(reader.client.ping())
    except (redis.RedisError, OSError):
        return False


def build_registry(settings: Settings, reader: WindowReader, alerts: AlertStore,
                   rules: Sequence[Rule], health: StoreHealth) -> CollectorRegistry:
    """Registry with the KPI and pipeline collectors; registering does not touch Redis."""
    registry = CollectorRegistry(auto_describe=True)
    alert_dims = dimensions_of(tuple(tuple(r.per) for r in rules))
    # the pipeline counters are read first (collectors run in registration order): a
    # scrape saying N events were applied then holds the KPIs of at least those N, which
    # matters once one render is shared between scrapers (serve/scrape.py)
    registry.register(PipelineCollector(reader, topics=settings.input_topics,
                                        refused=lambda: "" if health.ok else health.reason))
    registry.register(KpiCollector(reader, settings.kpi_config(), alerts,
                                   alert_dims=alert_dims, alert_rules=[r.name for r in rules]))
    return registry


def wall_model(settings: Settings, reader: WindowReader, alerts: AlertStore,
               rules: Sequence[Rule]) -> WallModel:
    # the live part of a snapshot is shared by the windows' snapshots of one push
    return WallModel(reader, alerts, settings.kpi_config(), rules, settings.wall_stale_after,
                     share_s=settings.wall_push_interval * 0.9,
                     min_samples=settings.wall_min_samples)


def make_wall(settings: Settings, rules: Sequence[Rule]) -> WallModel:
    """The wall model of the helper process (serve.remote), with clients of its own."""
    reader = _reader(settings)
    return wall_model(settings, reader, AlertStore(reader.client, Keys(settings.key_prefix)),
                      rules)


def serve_http(settings: Settings, registry: CollectorRegistry, reader: WindowReader,
               alerts: AlertStore, rules: Sequence[Rule], health: StoreHealth) -> None:
    """/metrics, /wall and its live feed, /ready, on SUPPORT_METRICS_HOST:PORT."""
    wall: Wall = (OutOfProcessWall(make_wall, (settings, list(rules)),
                                   [w.name for w in settings.kpi_config().windows])
                  if settings.wall_process else
                  wall_model(settings, reader, alerts, rules))
    token = settings.http_token.get_secret_value() if settings.http_token else None

    def not_ready() -> str:
        return "" if health.ok else f"the store is unavailable ({health.reason})"

    if token is None and settings.metrics_host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving /metrics and the wall on %s without SUPPORT_HTTP_TOKEN: anyone "
                    "who reaches this address can read them", settings.metrics_host)
    try:
        serve_in_thread(build_app(registry, wall, settings.wall_push_interval, token,
                                  not_ready, settings.wall_max_streams,
                                  settings.metrics_cache),
                        settings.metrics_host, settings.metrics_port)
    except OSError as exc:
        if isinstance(wall, OutOfProcessWall):
            wall.close()
        raise _port_error(settings, exc.strerror) from None
    base = f"http://{settings.metrics_host}:{settings.metrics_port}"
    log.info("serving %s/metrics and the wall at %s/wall%s", base, base,
             " (token required)" if token else "")


def _port_error(settings: Settings, why: str | None) -> SettingsError:
    return SettingsError(
        f"cannot serve on {settings.metrics_host}:{settings.metrics_port} ({why}): another "
        "process has the port; choose another with SUPPORT_METRICS_PORT (--metrics-port) or "
        "SUPPORT_METRICS_HOST")


def json_publisher(send: Send) -> Publisher:
    """The alert runner's one way to Kafka: transition documents as JSON, keyed by rule."""
    async def publish(doc: dict[str, Any]) -> None:
        await send(str(doc["rule"]).encode(), json.dumps(doc).encode())

    return publish


def add_alert_timer(app: faust.App, settings: Settings, rules: Sequence[Rule],
                    reader: WindowReader) -> AlertRunner:
    """Evaluate the rules on an app timer; one worker at a time holds the lease."""
    runner = AlertRunner(
        rules, reader,
        connect_async(settings.redis_url, **settings.redis_options()),
        Keys(settings.key_prefix), time.time,
        json_publisher(topic_sender(app, settings.topic_alerts)),
        HttpNotifier(settings.alertmanager_url, settings.alert_webhook_url),
        interval_s=settings.alert_interval, resend_s=settings.alert_resend,
        public_url=settings.public_url
        or f"http://{settings.metrics_host}:{settings.metrics_port}")

    async def evaluate_alerts() -> None:
        try:
            await runner.tick()
        except Exception:  # an alert bug must not stop the stream
            log.exception("alert evaluation failed")

    async def release_lease(_app: Any, **_kw: Any) -> None:
        try:
            await runner.release()
        except Exception as exc:  # Redis gone: the lease runs out by itself
            log.warning("could not release the alert lease: %s", exc)

    app.timer(settings.alert_interval, name="evaluate_alerts")(evaluate_alerts)
    app.on_before_shutdown.connect(release_lease)  # type: ignore[arg-type]
    log.info("evaluating %d alert rules from %s every %gs", len(rules), settings.alert_rules,
             settings.alert_interval)
    return runner


class CustomersProcess:
    """The customers agent in a process of its own (``support-kpi worker --role
    customers``): the customer path then has a core of its own instead of a share of the
    worker's event loop (docs/benchmarks.md, "Customer path"). The worker starts it once
    the topics exist, starts it again when it exits, and stops it with itself; it dies
    with the worker too (the parent-death signal), so it cannot outlive a SIGKILL."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic,
                 command: Sequence[str] = (sys.executable, "-m", "supportkpi.cli", "worker",
                                           "--role", "customers")) -> None:
        # the worker's own settings, command-line overrides included, and a Faust data
        # directory of its own
        self._env = {**os.environ, "SUPPORT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                     "SUPPORT_REDIS_URL": settings.redis_url,
                     "SUPPORT_DATA_DIR": str(settings.data_dir / "customers")}
        self._stop_s = settings.shutdown_timeout
        self._clock = clock
        self._command = list(command)
        self._started = 0.0
        self._quick_exits = 0  # exits within a minute of their start, in a row
        self._not_before = 0.0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._started = self._clock()
        self.proc = subprocess.Popen(self._command, env=self._env)
        log.info("customers agent started in process %d", self.proc.pid)

    def check(self) -> None:
        """Start it again when it exited; when it keeps exiting soon after its start (a
        fault that a restart does not cure), wait longer each time, up to 5 minutes."""
        if self.proc is None or self.proc.poll() is None:
            return
        now = self._clock()
        if self._not_before == 0.0:
            quick = now - self._started < QUICK_EXIT_S
            self._quick_exits = self._quick_exits + 1 if quick else 0
            pause = doubling(self._quick_exits - 1, CHILD_CHECK_S, 300.0) if quick else 0.0
            log.error("the customers process exited with code %s; starting it again%s",
                      self.proc.returncode, f" in {pause:.0f}s" if pause else "")
            self._not_before = now + pause
        if now >= self._not_before:
            self._not_before = 0.0
            self.start()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(self._stop_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the worker still stops it on its way out
        log.debug("no parent-death signal on this platform")
    if os.getppid() == 1:  # the worker died before the signal was armed
        raise SystemExit(0)


def run_customers(settings: Settings) -> None:
    """The customers process: only the customers agent (its consumer group is the worker
    group's name + ``-customers``); no HTTP, no alerts, no topic creation: the worker that
    started it did those."""
    die_with_parent()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    telemetry = WorkerTelemetry(CollectorRegistry(auto_describe=True), StoreHealth())
    app = create_app(settings.stream_config("customers"), telemetry)
    worker = bounded_worker(faust.Worker, settings.shutdown_timeout)(
        app, loglevel=settings.log_level.upper(), quiet=True)
    tune_gc()
    worker.execute_from_commandline()


def add_customers_process(app: faust.App, settings: Settings) -> CustomersProcess:
    """Start the customers process; watch it on an app timer; stop it with the worker."""
    child = CustomersProcess(settings)
    child.start()
    BEFORE_RESTART.append(child.stop)
    atexit.register(child.stop)

    async def check_customers_process() -> None:
        child.check()

    async def stop_customers_process(_app: Any, **_kw: Any) -> None:
        await asyncio.to_thread(child.stop)

    app.timer(CHILD_CHECK_S, name="check_customers_process")(check_customers_process)
    app.on_before_shutdown.connect(stop_customers_process)  # type: ignore[arg-type]
    return child


def run_worker(settings: Settings, role: str = "all") -> None:
    if role == "customers":
        return run_customers(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    rules = load_alert_rules(settings)  # invalid rules stop start-up before anything runs
    try:
        check_supported()  # the batch transport's pinned Faust, and its registration
    except StreamError as exc:
        raise SettingsError(str(exc)) from None
    mismatch = cluster_mismatch(settings.redis_url, settings.redis_cluster,
                                socket_timeout=settings.redis_timeout,
                                socket_connect_timeout=settings.redis_timeout)
    if mismatch:
        raise SettingsError(f"SUPPORT_REDIS_URL ({redact_url(settings.redis_url)}) {mismatch}")
    policy = eviction_policy(settings.redis_url, settings.redis_cluster,
                             socket_timeout=settings.redis_timeout,
                             socket_connect_timeout=settings.redis_timeout)
    if policy:
        raise SettingsError(
            f"Redis at {redact_url(settings.redis_url)} has maxmemory-policy {policy}: it "
            "evicts the store's keys and the KPIs would go silently wrong; set "
            "maxmemory-policy noeviction on it (CONFIG SET maxmemory-policy noeviction, or the "
            "managed service's parameter) and give it the memory docs/operations.md sizes")
    stream = settings.stream_config("main" if settings.customers_apart else "all")
    reader = _reader(settings)
    alerts = AlertStore(reader.client, Keys(settings.key_prefix))
    health = StoreHealth()
    if not store_answers(reader):  # not ready until the store answers (the periodic check
        health.down("redis_unavailable", "at start-up")  # says when it does)
    registry = build_registry(settings, reader, alerts, rules, health)
    telemetry = WorkerTelemetry(registry, health)
    telemetry.restarts.set(restarts_so_far())
    # a busy port is a start-up mistake: said before anything talks to Kafka
    if port_taken(settings.metrics_host, settings.metrics_port):
        raise _port_error(settings, "Address already in use")
    unreachable = kafka_unreachable(settings.kafka_bootstrap)
    if unreachable:  # said now, not after half a minute of the client's retries
        raise SettingsError(f"{unreachable}: start Kafka, or set SUPPORT_KAFKA_BOOTSTRAP "
                            "(--kafka) to a running broker")
    try:
        ensure_topics(stream)
    except StreamError as exc:
        raise SettingsError(str(exc)) from None
    # served once the topics exist: a client that waits for /metrics and then produces
    # cannot have the broker auto-create an input topic with its default partition count
    serve_http(settings, registry, reader, alerts, rules, telemetry.store)
    app = create_app(stream, telemetry)
    if settings.customers_apart:
        add_customers_process(app, settings)
    if rules:
        add_alert_timer(app, settings, rules, _reader(settings))
    worker = bounded_worker(faust.Worker, settings.shutdown_timeout)(
        app, loglevel=settings.log_level.upper(), quiet=True)
    if restarts_so_far():
        log.warning("worker restarted in place %d time(s)", restarts_so_far())
    tune_gc()
    worker.execute_from_commandline()



def bounded_worker(base: type[Any], timeout_s: float) -> type[Any]:
    """The Faust worker class whose stop, once a signal asked for it, takes at most
    ``timeout_s``: with the broker down, leaving the group and committing can wait
    forever. Exiting without them loses nothing (Redis holds every applied batch and its
    offsets); the group notices the member gone after the session timeout. Its log
    handlers rate-limit the Kafka clients' repeated lines (supportkpi.log_filter)."""

    class BoundedWorker(base):
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            log_filter.install()  # aiokafka's retry loops log thousands of lines a second
            if level > logging.DEBUG:  # the framework's start-up chatter: with -v only
                log_filter.quiet_frameworks()

        def _schedule_shutdown(self, signal: Any) -> None:
            if not getattr(self, "_deadline_armed", False):
                self._deadline_armed = True

                def give_up() -> None:
                    log.error("stopping took longer than %.0fs (SUPPORT_SHUTDOWN_TIMEOUT); "
                              "exiting now: Redis holds every applied batch", timeout_s)
                    logging.shutdown()
                    os._exit(1)

                timer = threading.Timer(timeout_s, give_up)
                timer.daemon = True
                timer.start()
            super()._schedule_shutdown(signal)

    return BoundedWorker
