"""``support-kpi intake``: the webhook endpoints of the configured connectors."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from supportkpi.settings import Settings

log = logging.getLogger(__name__)


def run_intake(s: Settings) -> None:
    """Check every setting and Kafka first (a mistake is one line), create the raw topics,
    then serve until stopped."""
    from connectors.registry import VENDORS
    from intake.kafka_sink import KafkaRawSink
    from intake.server import Endpoint, make_app
    from streams.topics import ensure_topics

    secrets = s.webhook_secrets()
    endpoints = {name: Endpoint(VENDORS[name], VENDORS[name].verifier(secrets[name]), topic)
                 for name, topic in s.connector_topics()}
    ensure_topics(s.stream_config())
    sink = KafkaRawSink(s.kafka_bootstrap, s.kafka_python_options(), s.intake_ack_timeout)
    app = make_app(endpoints, sink, max_body=s.intake_max_body,
                   ack_timeout_s=s.intake_ack_timeout, clock=time.time)

    async def close(_app: web.Application) -> None:
        sink.close()

    app.on_cleanup.append(close)
    for name in endpoints:
        log.info("intake: POST http://%s:%d/webhooks/%s → %s", s.intake_host, s.intake_port,
                 name, endpoints[name].topic)
    web.run_app(app, host=s.intake_host, port=s.intake_port, print=None,
                access_log=None, handle_signals=True)
