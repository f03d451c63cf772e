"""``support-kpi worker`` and ``support-kpi intake``: the two long-running services."""

from __future__ import annotations

import click

from supportkpi.cli.common import KAFKA_OPTION, REDIS_OPTION, kafka_check, settings
from supportkpi.settings import SettingsError


@click.command()
@KAFKA_OPTION
@REDIS_OPTION
@click.option("--metrics-port", type=int, help="Port of /metrics [SUPPORT_METRICS_PORT].")
@click.option("--role", type=click.Choice(["all", "customers"]), default="all", hidden=True,
              help="customers: only the customers agent (the process the worker starts "
                   "with SUPPORT_CUSTOMER_PROCESS)")
def worker(role: str, **overrides: object) -> None:
    """Run the stream worker: consume tickets and chats, apply to Redis, serve /metrics."""
    from kafka.errors import KafkaError

    from supportkpi.worker import run_worker

    s = settings(**overrides)
    try:
        run_worker(s, role)
    except SettingsError as exc:  # e.g. the alert rules, checked before anything starts
        raise click.ClickException(str(exc)) from None
    except KafkaError as exc:  # raised by the start-up topic check, before Faust runs
        who = f" as {s.kafka_username}" if s.kafka_username else ""
        raise click.ClickException(
            f"Kafka at {s.kafka_bootstrap} refused the worker{who} "
            f"({s.kafka_security_protocol}): {type(exc).__name__}: {exc}. Check "
            "SUPPORT_KAFKA_BOOTSTRAP and SUPPORT_KAFKA_SECURITY_PROTOCOL/SASL_MECHANISM/"
            "USERNAME/PASSWORD.") from None


@click.command()
@KAFKA_OPTION
@click.option("--port", "intake_port", type=int, help="Port [SUPPORT_INTAKE_PORT].")
def intake(**overrides: object) -> None:
    """Serve the helpdesk webhooks: POST /webhooks/<vendor> for each of SUPPORT_CONNECTORS.

    A delivery's signature is checked with SUPPORT_<VENDOR>_WEBHOOK_SECRET (401 and
    nothing written when it is wrong), its raw body is written to the vendor's raw topic
    (SUPPORT_TOPIC_RAW_PREFIX.<vendor>), and it is answered 200 only once Kafka has it
    (503 otherwise, so the vendor retries). The worker's normalizer agents map it.
    """
    from kafka.errors import KafkaError

    from supportkpi.intake import run_intake

    s = settings(**overrides)
    try:  # the settings first: a missing secret is one line before any connection
        if not s.webhook_secrets():
            raise click.UsageError("no connector configured: set SUPPORT_CONNECTORS "
                                   "(e.g. chatwoot) and its SUPPORT_<VENDOR>_WEBHOOK_SECRET")
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    kafka_check(s)
    try:
        run_intake(s)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    except KafkaError as exc:
        raise click.ClickException(f"Kafka at {s.kafka_bootstrap} refused the intake: "
                                   f"{type(exc).__name__}: {exc}") from None
