"""``support-kpi services``: local Apache Kafka (KRaft), redis-server and a Redis Cluster
on loopback, for the demo and the tests (a developer tool: :mod:`devtools.services`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from devtools.services import ServiceConfig


def service_options(f):  # type: ignore[no-untyped-def]
    f = click.option("--state-dir", type=click.Path(path_type=Path),
                     default=Path(".cache/services"), show_default=True,
                     help="Where Kafka and Redis keep data, logs and pid files.")(f)
    f = click.option("--kafka-port", type=int, default=9092, show_default=True)(f)
    f = click.option("--controller-port", type=int, default=None,
                     help="KRaft controller port [default: kafka port + 1].")(f)
    f = click.option("--redis-port", type=int, default=6379, show_default=True)(f)
    return f


def service_config(state_dir: Path, kafka_port: int, controller_port: int | None,
                    redis_port: int) -> ServiceConfig:
    return ServiceConfig(state_dir=state_dir.resolve(), kafka_port=kafka_port,
                         controller_port=controller_port or kafka_port + 1,
                         redis_port=redis_port)


@click.group()
def services() -> None:
    """Start, check and stop local Apache Kafka (KRaft) and redis-server on loopback."""


@services.command("up")
@service_options
def services_up(**kw: object) -> None:
    """Start Kafka and Redis (reuses running ones); waits until both answer."""
    from devtools.services import ServiceError, up

    try:
        up(service_config(**kw))  # type: ignore[arg-type]
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None


@services.command("down")
@service_options
def services_down(**kw: object) -> None:
    """Stop the Kafka and Redis started by `services up`."""
    from devtools.services import down

    down(service_config(**kw))  # type: ignore[arg-type]


@services.command("status")
@service_options
def services_status(**kw: object) -> None:
    """Print whether each service is running and healthy (exit 1 if not)."""
    from devtools.services import status

    st = status(service_config(**kw))  # type: ignore[arg-type]
    for name, ok in st.items():
        click.echo(f"{name}: {'up' if ok else 'down'}")
    if not all(st.values()):
        sys.exit(1)


def cluster_options(f):  # type: ignore[no-untyped-def]
    f = click.option("--state-dir", type=click.Path(path_type=Path),
                     default=Path(".cache/redis-cluster"), show_default=True,
                     help="Where the nodes keep their config, logs and pid files.")(f)
    f = click.option("--base-port", type=int, default=17000, show_default=True,
                     help="First node's port; the nodes use the ports after it, and their "
                          "cluster bus ports are 10000 above.")(f)
    f = click.option("--masters", type=click.IntRange(3, 16), default=3, show_default=True,
                     help="Masters (each with one replica).")(f)
    return f


@services.command("cluster-up")
@cluster_options
def services_cluster_up(state_dir: Path, base_port: int, masters: int) -> None:
    """Start a Redis Cluster on loopback (masters with a replica each) for trying
    SUPPORT_REDIS_CLUSTER=true; prints the URL to give SUPPORT_REDIS_URL."""
    from devtools.cluster import ClusterConfig, cluster_up
    from devtools.services import ServiceError

    cfg = ClusterConfig(state_dir.resolve(), base_port=base_port, masters=masters)
    try:
        cluster_up(cfg)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"SUPPORT_REDIS_URL={cfg.url} SUPPORT_REDIS_CLUSTER=true")


@services.command("cluster-down")
@cluster_options
def services_cluster_down(state_dir: Path, base_port: int, masters: int) -> None:
    """Stop the Redis Cluster started by `services cluster-up`."""
    from devtools.cluster import ClusterConfig, cluster_down

    cluster_down(ClusterConfig(state_dir.resolve(), base_port=base_port, masters=masters))


@services.command("fetch")
def services_fetch() -> None:
    """Download the Kafka jars from Maven Central into the cache (done once)."""
    from devtools.services import ServiceError, fetch_kafka

    try:
        click.echo(f"kafka jars in {fetch_kafka(ServiceConfig(state_dir=Path('.')))}")
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
