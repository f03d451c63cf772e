"""What the commands share: settings as a one-line error, times from the command line,
the Kafka check and producer, window names."""

from __future__ import annotations

from typing import Any

import click

from kpi.config import KpiConfig, WindowSpec
from streams.history import InputTopics
from supportkpi.settings import Settings, SettingsError, load_settings

KAFKA_OPTION = click.option("--kafka", "kafka_bootstrap",
                            help="Kafka bootstrap [SUPPORT_KAFKA_BOOTSTRAP].")
REDIS_OPTION = click.option("--redis", "redis_url", help="Redis URL [SUPPORT_REDIS_URL].")


def settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def parse_time(text: str) -> float:
    """RFC 3339 or epoch seconds → epoch seconds."""
    from streams.schema import parse_occurred_at

    try:
        return parse_occurred_at(float(text) if text.replace(".", "", 1).isdigit() else text) / 1000
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def input_topics(s: Settings) -> InputTopics:
    return InputTopics(s.topic_tickets, s.topic_chats)


def kafka_check(s: Settings, option: str = "--kafka") -> None:
    """One line, at once, when nothing listens at the bootstrap servers (kafka-python
    would retry for half a minute and then raise a traceback)."""
    from supportkpi.preflight import kafka_unreachable

    why = kafka_unreachable(s.kafka_bootstrap)
    if why:
        raise click.ClickException(
            f"{why}; start Kafka (`support-kpi services up`) or point {option} / "
            "SUPPORT_KAFKA_BOOTSTRAP at a running broker")


def producer(s: Settings, **options: object) -> Any:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    kafka_check(s)
    try:
        return KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all",
                             **s.kafka_python_options(), **options)
    except KafkaError as exc:
        raise click.ClickException(
            f"Kafka at {s.kafka_bootstrap} refused the producer: {type(exc).__name__}: "
            f"{exc}; check SUPPORT_KAFKA_BOOTSTRAP and SUPPORT_KAFKA_SECURITY_PROTOCOL/"
            "SASL_MECHANISM/USERNAME/PASSWORD") from None


def windows_of(cfg: KpiConfig, names: tuple[str, ...]) -> list[WindowSpec]:
    from kpi.errors import ConfigError

    try:
        return [cfg.window(n) for n in names]
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from None


def window_option(default: str) -> Any:
    return click.option("--window", "window_names", multiple=True, default=(default,),
                        show_default=True,
                        help="One of the configured windows (SUPPORT_WINDOWS); repeat for "
                             "several.")
