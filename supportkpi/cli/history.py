"""``support-kpi replay`` and ``support-kpi import``: a history into the input topics
(:mod:`streams.history`), from an event file or a helpdesk's export (:mod:`connectors`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from connectors.registry import IMPORTS
from streams.history import Ordered
from supportkpi.cli.common import KAFKA_OPTION, input_topics, parse_time, producer, settings


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--speed", type=float, default=0.0, show_default=True,
              help="Pace by event time: 1 = real time, 60 = an hour per minute; 0 = as fast "
                   "as possible.")
@click.option("--from", "from_", default=None, help="Only events at or after this time.")
@click.option("--to", "to", default=None, help="Only events before this time.")
@click.option("--order", type=click.Choice(["time", "file"]), default="time",
              show_default=True,
              help="time: send in occurred_at order (sorted in memory, so no event arrives "
                   "later than the allowed lateness behind a newer one); file: as the file "
                   "has them.")
@click.option("--sort-limit", type=int, default=2_000_000, show_default=True,
              help="Most lines sorted in memory; a larger file is sent in file order.")
@click.option("--accept-late", is_flag=True,
              help="Send even when, in the order sent, the worker will drop events as late "
                   "(SUPPORT_ALLOWED_LATENESS); without it such a replay is refused before "
                   "anything is sent.")
@click.option("--backfill", is_flag=True,
              help="Send it as history into a pipeline that is already live: the worker "
                   "applies its events however old (none is dropped as late behind the live "
                   "traffic), each once (their ids).")
@KAFKA_OPTION
def replay(file: Path, speed: float, from_: str | None, to: str | None, order: str,
           sort_limit: int, accept_late: bool, backfill: bool,
           kafka_bootstrap: str | None) -> None:
    """Produce a JSONL (optionally .gz) event file to Kafka, in event-time order.

    Tickets go to the tickets topic, chats to the chats topic, surveys follow their
    conversation; the key is the conversation id. Lines that are not valid events are
    sent as they are (the worker dead-letters them) unless a time filter needs their time.
    The worker drops an event more than SUPPORT_ALLOWED_LATENESS older than the newest of
    its partition: replay says how many that will be, and refuses (before sending) when
    it is any, unless --accept-late.
    """
    from streams.history import count_lines, order_history, partition_counts, send

    s = settings(kafka_bootstrap=kafka_bootstrap)
    lo = parse_time(from_) * 1000 if from_ else None
    hi = parse_time(to) * 1000 if to else None
    total = count_lines(file)
    out = producer(s, linger_ms=10, batch_size=256 * 1024)
    try:
        partitions = partition_counts(s.kafka_access(), input_topics(s), s.topic_partitions)
        history = order_history(file, input_topics(s), partitions,
                                s.kpi_config().allowed_lateness_ms,
                                by_time=order == "time" and total <= sort_limit, lo=lo, hi=hi)
        if not backfill:  # a backfill is never late
            _say_late(file, history, order, total, sort_limit, accept_late,
                      s.allowed_lateness)
        sent = send(out, history.lines, speed, total - history.skipped, backfill=backfill)
        out.flush()
    except KeyboardInterrupt:
        click.echo("interrupted; flushing what was sent", err=True)
        out.flush()
        return
    finally:
        out.close()
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(sent.items()))
    click.echo(f"replayed {sum(sent.values())} events ({detail}) in "
               f"{'time' if history.sorted else 'file'} order; {history.skipped} outside "
               f"--from/--to; " + ("sent as a backfill: none is late" if backfill else
                                   f"the worker drops {history.late} as late"), err=True)


def _say_late(file: Path, history: Ordered, order: str, total: int, sort_limit: int,
              accept_late: bool, lateness: str) -> None:
    """Tell what the lateness policy will do, and refuse a replay that loses events."""
    if history.sorted and history.file_late:
        click.echo(f"{file}: sorted by occurred_at (in file order the worker would have "
                   f"dropped {history.file_late} events as late)", err=True)
    if not history.late:
        return
    why = (f"it has {total} lines, more than --sort-limit {sort_limit}" if order == "time"
           else "--order file")
    msg = (f"{file}: in the order sent ({why}) the worker will drop {history.late} events as "
           f"late: each is more than SUPPORT_ALLOWED_LATENESS ({lateness}) older than an "
           "event sent before it on its partition")
    if not accept_late:
        raise click.ClickException(f"{msg}; sort the file by occurred_at, raise "
                                   "--sort-limit, or pass --accept-late to send it anyway")
    click.echo(f"warning: {msg} (--accept-late)", err=True)


@click.command("import")
@click.argument("vendor", type=click.Choice(sorted(IMPORTS)))
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account", default=None,
              help="The namespace of the conversation ids, as the webhooks' "
                   "SUPPORT_<VENDOR>_ACCOUNT (its default): imported conversations and live "
                   "webhooks share ids. Leave it unset with one account of the vendor.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the schema v1 events as JSON lines here instead of producing them.")
@KAFKA_OPTION
def import_(vendor: str, files: tuple[Path, ...], account: str | None, out: Path | None,
            kafka_bootstrap: str | None) -> None:
    """Import a helpdesk's history export: map it to schema v1, sort it by event time and
    produce it (or write it with --out), with a summary of what was skipped and why.

    It is sent as a backfill: into a pipeline whose webhooks are already live, its events
    are applied however old, and each event the webhooks delivered too counts once (the
    ids are the same on both paths; docs/connectors.md says where a vendor cannot match).

    A .json file is one API response (a page, an object or an array); a .jsonl file one
    record per line. The files may come in any order: the history is sorted.

    \b
    zendesk:   Incremental Ticket Event Export pages
               (GET /api/v2/incremental/ticket_events?include=comment_events)
    freshdesk: tickets (GET /api/v2/tickets?include=stats), their conversations
               (GET /api/v2/tickets/ID/conversations), satisfaction ratings
               (GET /api/v2/surveys/satisfaction_ratings)
    chatwoot:  conversations (GET /api/v1/accounts/ID/conversations[/ID]), each with
               its messages (GET .../conversations/ID/messages) in "messages"
    intercom:  conversations (GET /conversations/ID, with conversation_parts)

    docs/connectors.md maps each vendor's records to the schema.
    """
    from connectors.files import ExportFileError, read_documents
    from streams.history import InputTopics, events_as_lines, send

    ctx = settings().connector_context(vendor)
    try:
        imported = IMPORTS[vendor](read_documents(files), replace(ctx, account=account)
                                   if account is not None else ctx)
    except ExportFileError as exc:
        raise click.ClickException(str(exc)) from None
    if out is not None:
        lines = events_as_lines(imported.events, InputTopics("", ""))
        out.write_bytes(b"".join(ln.raw + b"\n" for ln in lines))
        where = str(out)
    else:
        s = settings(kafka_bootstrap=kafka_bootstrap)
        lines = events_as_lines(imported.events, input_topics(s))
        sink = producer(s, linger_ms=10, batch_size=256 * 1024)
        try:
            send(sink, lines, 0.0, len(lines), desc=f"import {vendor}", backfill=True)
            sink.flush()
        finally:
            sink.close()
        where = "Kafka"

    def counts(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"

    click.echo(f"imported {len(lines)} events to {where} in event-time order; skipped "
               f"(nothing a KPI needs): {counts(imported.skipped)}; refused (cannot be "
               f"mapped): {counts(imported.refused)}"
               + (f"; approximated (an upper bound): {counts(imported.approximated)}"
                  if imported.approximated else ""), err=True)
