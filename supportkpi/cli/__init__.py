"""``support-kpi``: one entry point for the worker, the intake, queries, history and the
developer tools. One module per command group, each thin: what a command does lives in the
room that owns it (the stream side, the read side, the connectors, the developer tools);
here are its options, its settings and its one-line errors."""

from __future__ import annotations

import logging

import click

from supportkpi.cli import alerts, demo, history, read, run, services, simulate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """Live support KPI monitor: Kafka → Faust → Redis windows → Prometheus.

    Configuration comes from SUPPORT_* environment variables (see README,
    "Configuration"); command options override the most common ones.
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)


for command in (services.services, run.worker, run.intake, simulate.simulate, read.query,
                read.export, simulate.oracle, history.replay, history.import_, alerts.alerts,
                demo.demo):
    main.add_command(command)
