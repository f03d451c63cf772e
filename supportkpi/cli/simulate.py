"""``support-kpi simulate`` and ``support-kpi oracle``: developer tools by name (a simulated
floor into Kafka, :mod:`devtools.simulate` and :mod:`devtools.play`; the independent batch
computation, :mod:`devtools.oracle`)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import click

from supportkpi.cli.common import (
    KAFKA_OPTION,
    input_topics,
    parse_time,
    producer,
    settings,
    window_option,
    windows_of,
)


@click.command()
@click.option("--rate", type=float, default=10.0, show_default=True,
              help="New conversations per simulated minute (before the --profile "
                   "multiplier).")
@click.option("--duration", type=float, default=60.0, show_default=True,
              help="Seconds of live traffic after the history (0 = until interrupted).")
@click.option("--backfill", default=None,
              help="Start the simulated floor this long before now (e.g. 1h) and send that "
                   "history first; its conversations carry on into the live traffic.")
@click.option("--speed", type=float, default=0.0, show_default=True,
              help="Pace of the history: simulated seconds per real second (120 plays 10 "
                   "hours in 5 minutes); 0 = as fast as possible. Live traffic after it is "
                   "always real time.")
@click.option("--profile", default="", show_default=True,
              help="Arrivals by UTC hour of simulated time, FROM-TO:MULTIPLIER comma "
                   "separated (e.g. 0-7:0.3,9-12:1.6), or 'day' for busy and quiet hours; "
                   "empty = flat.")
@click.option("--incident", "incidents", multiple=True, metavar="QUEUE@START+LENGTH",
              help="A staffing outage in one queue, START after the simulated floor's first "
                   "moment (e.g. technical@2h+45m): its first-response p90 breaches "
                   "FirstResponseP90High of deploy/alerts.yml, and with agent events most of "
                   "its agents go offline (UnderstaffedQueue), then it recovers. Repeatable.")
@click.option("--customers", type=int, default=0, show_default=True,
              help="Draw each conversation's customer from a population of this many, so "
                   "customers come back (repeat contacts, on any channel); nine in ten "
                   "conversations carry a customer_id. 0: none carries one.")
@click.option("--seed", type=int, default=None, help="Random seed (default: random).")
@click.option("--invalid-rate", type=float, default=0.0, show_default=True,
              help="Share of extra invalid messages (exercise the DLQ).")
@click.option("--duplicate-rate", type=float, default=0.0, show_default=True,
              help="Share of events sent twice (upstream duplicates).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write the history as JSONL (.gz compresses) to this file instead of Kafka.")
@click.option("--until", default=None,
              help="End of the history (RFC 3339 or epoch seconds) instead of now; with --out "
                   "this writes a historical file.")
@KAFKA_OPTION
def simulate(rate: float, duration: float, backfill: str | None, speed: float, profile: str,
             incidents: tuple[str, ...], customers: int, seed: int | None,
             invalid_rate: float,
             duplicate_rate: float, out: Path | None, until: str | None,
             kafka_bootstrap: str | None) -> None:
    """Simulate a support floor into Kafka: tickets, chats with bot handoffs, agent
    replies, escalations, abandoned chats, solves, reopens and surveys; and, when
    SUPPORT_TOPIC_AGENTS is set (it is by default), the agents' events (schema v1.3) on
    that topic: shifts, breaks and the contacts they work, each queue staffed by Erlang C
    for deploy/staffing.yml's targets (not written by --out: `replay` reads conversations).

    Every conversation is eventually answered or abandoned, so the floor stays in a
    steady state however long it runs.
    """
    from devtools import play
    from devtools import simulate as sim
    from devtools import simulate_agents as sim_agents
    from kpi.durations import parse_duration_ms

    s = settings(kafka_bootstrap=kafka_bootstrap)
    seed = seed if seed is not None else random.randrange(1_000_000)
    now_ms = int((parse_time(until) if until else time.time()) * 1000)
    try:
        start_ms = now_ms - (parse_duration_ms(backfill) if backfill else 0)
        params = sim.FloorParams(
            seed=seed, rate_per_min=rate, profile=sim.profile_from_text(profile),
            incidents=tuple(sim.incident_from_text(i, start_ms) for i in incidents),
            customers=max(0, customers))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if out is not None:
        n = play.write_history(out, sim.generate(params, start_ms, now_ms, chunk="b"))
        click.echo(f"wrote {n} events to {out}")
        return
    sink = producer(s, linger_ms=5)
    agents = bool(s.topic_agents)  # the worker reads them: the floor has agents
    for inc in params.incidents:
        expect = inc.expected_alert + (" and UnderstaffedQueue" if agents else "")
        click.echo(f"incident: {inc.queue} unstaffed from {play.iso(inc.start_ms)} to "
                   f"{play.iso(inc.end_ms)} (expect {expect} for queue={inc.queue})", err=True)
    end = None if not duration else now_ms + int(duration * 1000)
    sender = play.Sender(sink, s.topic_tickets, s.topic_chats, random.Random(seed),
                         invalid_rate, duplicate_rate, agents=s.topic_agents or None)
    click.echo(f"seed {seed}; {rate:g} conversations/min"
               + (f"; history from {play.iso(start_ms)} at {speed:g}x" if backfill else "")
               + (f"; live for {duration:g}s" if duration else "; live until interrupted")
               + (f"; agents on {s.topic_agents}" if agents else ""),
               err=True)
    started = time.time()
    try:
        events = (sim_agents.live if agents else sim.live)(params, start_ms, end)
        play.play(events, sender, start_ms, now_ms, speed, end)
    except KeyboardInterrupt:
        pass
    finally:
        sink.flush()
        sink.close()
    c = sender.counts
    click.echo(f"sent {c['sent']} events ({c['duplicate']} duplicates, {c['invalid']} "
               f"invalid) in {time.time() - started:.0f}s", err=True)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@window_option("15m")
@click.option("--at", "ats", multiple=True, required=True,
              help="Evaluation time (RFC 3339 or epoch seconds); repeat for several.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.option("--partitions", type=int, default=None,
              help="Partitions of the input topics [SUPPORT_TOPIC_PARTITIONS]; decides which "
                   "events are late, as in the stream.")
@click.option("--order", type=click.Choice(["time", "file"]), default="time",
              show_default=True, help="The order `replay` sent FILE in (see replay --order).")
@click.option("--sort-limit", type=int, default=2_000_000, show_default=True,
              help="As replay's: a larger file arrives in file order.")
def oracle(file: Path, window_names: tuple[str, ...], ats: tuple[str, ...], as_json: bool,
           partitions: int | None, order: str, sort_limit: int) -> None:
    """Compute the KPI table for FILE (JSONL, optionally .gz) independently of the stream.

    Prints exactly what `query --window W --at T` prints after FILE was replayed, so the
    two can be compared line by line.
    """
    from devtools import oracle as orc
    from serve.query import render
    from streams.history import count_lines
    from windows.reader import WindowSnapshot

    s = settings()
    cfg = s.kpi_config()
    specs = windows_of(cfg, window_names)
    times_ms = [int(parse_time(a) * 1000) for a in ats]
    by_time = order == "time" and count_lines(file) <= sort_limit  # as replay sent it
    messages = orc.arrivals(file, input_topics(s), partitions or s.topic_partitions, by_time)
    # judged by the real clock, as the worker judges them: events from the future go to
    # its DLQ, so they are not counted here either
    accepted = orc.accept(messages, cfg, s.schema_config(), lambda: int(time.time() * 1000))
    # like the stream after the whole file was replayed: every event is known, so a reopen
    # after --at has already retracted FCR (replay with --to to see only the past)
    out = []
    for at_ms in times_ms:
        ev = orc.evaluate(accepted, cfg, at_ms)
        out += [render(WindowSnapshot(w, at_ms, ev.windows[w.name], from_ms=ev.ranges[w.name][0],
                                      to_ms=ev.ranges[w.name][1]), ev.gauges, as_json)
                for w in specs]
    click.echo(("\n" if as_json else "\n\n").join(out))
