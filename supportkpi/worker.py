"""The worker process: topics, /metrics exposition thread, and the Faust worker."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import redis
from prometheus_client import CollectorRegistry

from alerts.rules import Rule
from streams.restart import restarts_so_far
from supportkpi import log_filter
from supportkpi.exporter import KpiCollector, PipelineCollector
from supportkpi.settings import Settings, load_alert_rules
from supportkpi.topics import ensure_topics
from windows.config import dimensions_of
from windows.keys import Keys
from windows.reader import WindowReader

log = logging.getLogger(__name__)


def build_registry(settings: Settings, reader: WindowReader,
                   rules: Sequence[Rule]) -> CollectorRegistry:
    """Registry with the KPI and pipeline collectors; registering does not touch Redis."""
    registry = CollectorRegistry(auto_describe=True)
    alert_dims = dimensions_of(tuple(tuple(r.per) for r in rules))
    registry.register(KpiCollector(reader, settings.kpi_config(), time.time,
                                   alert_dims=alert_dims, alert_rules=[r.name for r in rules]))
    registry.register(PipelineCollector(reader, topics=settings.input_topics))
    return registry


def serve_http(settings: Settings, registry: CollectorRegistry, reader: WindowReader,
               rules: Sequence[Rule]) -> None:
    """/metrics, /wall and its live feed on SUPPORT_METRICS_HOST:PORT."""
    from supportkpi.wallmodel import WallModel
    from supportkpi.web import build_app, serve_in_thread

    wall = WallModel(reader, settings.kpi_config(), rules, time.time, settings.wall_stale_after)
    token = settings.http_token.get_secret_value() if settings.http_token else None
    serve_in_thread(build_app(registry, wall, settings.wall_push_interval, token),
                    settings.metrics_host, settings.metrics_port)
    base = f"http://{settings.metrics_host}:{settings.metrics_port}"
    log.info("serving %s/metrics and the wall at %s/wall%s", base, base,
             " (token required)" if token else "")


def run_worker(settings: Settings) -> None:
    import faust

    from streams.app import create_app
    from streams.telemetry import WorkerTelemetry

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    rules = load_alert_rules(settings)  # invalid rules stop start-up before anything runs
    ensure_topics(settings)
    # one read side for /metrics and the wall (redis-py's pool is safe across threads)
    reader = WindowReader(redis.Redis.from_url(settings.redis_url, **settings.redis_options()),
                          Keys(settings.key_prefix), settings.kpi_config())
    registry = build_registry(settings, reader, rules)
    telemetry = WorkerTelemetry(registry)
    telemetry.restarts.set(restarts_so_far())
    serve_http(settings, registry, reader, rules)
    if rules:
        log.info("evaluating %d alert rules from %s every %gs", len(rules), settings.alert_rules,
                 settings.alert_interval)
    app = create_app(settings, telemetry, rules=rules)
    worker = bounded_worker(faust.Worker, settings.shutdown_timeout)(
        app, loglevel=settings.log_level.upper(), quiet=True)
    if restarts_so_far():
        log.warning("worker restarted in place %d time(s)", restarts_so_far())
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
