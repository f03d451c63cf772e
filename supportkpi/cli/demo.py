"""``support-kpi demo``: the whole product on one machine (a developer tool:
:mod:`supportkpi.demo` starts :mod:`devtools.services` and the simulator)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from supportkpi.cli.services import service_config


@click.command()
@click.option("--rate", type=float, default=10.0, show_default=True,
              help="New conversations per simulated minute at an average hour (the day "
                   "profile makes nights quiet and two peaks busy).")
@click.option("--history", default="1h", show_default=True,
              help="Simulated history before now, sent first so every window has numbers.")
@click.option("--speed", type=float, default=0.0, show_default=True,
              help="Play the history at this many simulated seconds per second (e.g. "
                   "--history 10h --speed 120: ten hours in five minutes, read on the event "
                   "clock so alerts fire as they would have); 0 = all at once.")
@click.option("--incident", "incidents", multiple=True, metavar="QUEUE@START+LENGTH",
              help="A staffing outage (see `simulate --help`), e.g. technical@20m+45m: "
                   "most of the queue's agents log off, so UnderstaffedQueue and "
                   "FirstResponseP90High fire for that queue, then resolve.")
@click.option("--seed", type=int, default=None, help="Simulator seed (default: random).")
@click.option("--keep", is_flag=True,
              help="Continue the previous demo's Kafka and Redis data instead of starting "
                   "from an empty floor.")
@click.option("--metrics-port", type=int, default=9464, show_default=True)
@click.option("--state-dir", type=click.Path(path_type=Path), default=Path(".cache/demo"),
              show_default=True, help="The demo's own Kafka, Redis and worker data "
                                      "(emptied at start unless --keep).")
@click.option("--kafka-port", type=int, default=9092, show_default=True)
@click.option("--controller-port", type=int, default=None,
              help="KRaft controller port [default: kafka port + 1].")
@click.option("--redis-port", type=int, default=6379, show_default=True)
def demo(rate: float, history: str, speed: float, incidents: tuple[str, ...],
         seed: int | None, keep: bool, metrics_port: int, **svc: object) -> None:
    """Run everything locally: Kafka, Redis, the worker with deploy/alerts.yml and a
    simulated floor in a steady state (every conversation answered or abandoned).

    Starts from an empty floor each time (--keep continues the last one) and refuses at
    once when its ports are taken or a demo is already running. Prints the wall and
    /metrics URLs; Ctrl-C stops everything this command started.
    """
    from supportkpi.demo import DemoError, DemoPlan, run

    plan = DemoPlan(services=service_config(**svc),  # type: ignore[arg-type]
                    metrics_port=metrics_port, rate=rate, history=history, speed=speed,
                    incidents=incidents, keep=keep, seed=seed)
    try:
        sys.exit(run(plan))
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
