"""``support-kpi query`` and ``support-kpi export``: the windows as tables and files (the
read side: :mod:`serve.query`, :mod:`serve.export`)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from supportkpi.cli.common import REDIS_OPTION, parse_time, settings, window_option, windows_of
from supportkpi.settings import redact_url


@click.command()
@window_option("15m")
@click.option("--at", "ats", multiple=True,
              help="Evaluate as of this time (RFC 3339 or epoch seconds) instead of now; "
                   "repeat for several.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@REDIS_OPTION
def query(window_names: tuple[str, ...], ats: tuple[str, ...], as_json: bool,
          redis_url: str | None) -> None:
    """Print the KPI table of a window, one row per queue/channel combination."""
    import redis as redis_lib

    from alerts.store import AlertStore
    from serve.query import alert_table, incomplete_note, render
    from windows.clients import connect
    from windows.keys import Keys
    from windows.reader import WindowReader

    s = settings(redis_url=redis_url)
    cfg = s.kpi_config()
    specs = windows_of(cfg, window_names)
    try:
        client = connect(s.redis_url, **s.redis_options())
    except redis_lib.RedisError as exc:  # a cluster client asks for the topology here
        raise click.ClickException(f"cannot read Redis at {redact_url(s.redis_url)}: "
                                   f"{exc}") from None
    reader = WindowReader(client, Keys(s.key_prefix), cfg, time.time, **s.read_options())
    out = []
    try:
        # --at T: windows end at T and live ages are measured to T; otherwise the read clock
        times = [(t, t) for t in (int(parse_time(a) * 1000) for a in ats)]
        if not times:
            rt = reader.read_time()
            times = [(rt.window_end_ms, rt.live_ms)]
        stats = reader.stats()
        for at_ms, live_ms in times:
            gauges = reader.gauges(live_ms, own_clocks=not ats)
            for w in specs:
                note = incomplete_note(stats, w.length_ms, at_ms)
                if note and as_json:  # stderr beside JSON lines, compared line by line
                    click.echo(f"window {w.name}: {note}", err=True)
                out.append(render(reader.window(w, at_ms), gauges, as_json)
                           + ("" if as_json or not note else f"\n{note}"))
        alert_states = AlertStore(client, Keys(s.key_prefix)).read()
    except redis_lib.RedisError as exc:
        raise click.ClickException(f"cannot read Redis at {redact_url(s.redis_url)}: "
                                   f"{exc}") from None
    click.echo(("\n" if as_json else "\n\n").join(out))
    if not as_json:
        click.echo("\n" + alert_table(alert_states, int(time.time() * 1000)))


@click.command()
@click.option("--from", "from_", required=True, help="Start of the range (RFC 3339 or epoch "
              "seconds).")
@click.option("--to", "to", required=True, help="End of the range: the last window ends here.")
@window_option("1h")
@click.option("--every", default=None,
              help="Time between window ends (e.g. 15m); default each window's length, so "
                   "its records tile the range.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")
@REDIS_OPTION
def export(from_: str, to: str, window_names: tuple[str, ...], every: str | None, fmt: str,
           out: Path | None, redis_url: str | None) -> None:
    """Write the windows of a time range for reports: one record per window end, window
    and dimension combination, every KPI a column (CSV) or field (JSON lines).

    The store keeps the 24-min buckets (the 24h window's) for a day plus
    SUPPORT_BUCKET_TTL_MARGIN after they were written, the finer ones for the margin once
    the event clock is past their windows: export a live floor's recent past, or replay a
    history (read on the event clock) and export it within the margin (raise it for a
    long export of 5m or 1h windows).
    """
    import redis as redis_lib
    from tqdm import tqdm

    from kpi.durations import parse_duration_ms
    from kpi.errors import ConfigError
    from serve.export import ends, records, to_csv, to_jsonl
    from windows.clients import connect
    from windows.keys import Keys
    from windows.reader import WindowReader

    s = settings(redis_url=redis_url)
    cfg = s.kpi_config()
    specs = windows_of(cfg, window_names)
    lo, hi = int(parse_time(from_) * 1000), int(parse_time(to) * 1000)
    try:
        step = parse_duration_ms(every) if every else None
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--every") from None
    plan = [(w, t) for w in specs for t in ends(lo, hi, w, step)]
    if not plan:
        raise click.BadParameter("the range is shorter than one window (or --every)",
                                 param_hint="--from/--to")
    try:
        reader = WindowReader(connect(s.redis_url, **s.redis_options()), Keys(s.key_prefix),
                              cfg, time.time, **s.read_options())
        snaps = [reader.window(w, t) for w, t in tqdm(plan, unit="window", desc="export",
                                                      disable=None)]
    except redis_lib.RedisError as exc:
        raise click.ClickException(f"cannot read Redis at {redact_url(s.redis_url)}: "
                                   f"{exc}") from None
    rows = list(records(snaps, cfg.storage_dimensions))
    text = to_csv(rows) if fmt == "csv" else to_jsonl(rows)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
    click.echo(f"exported {len(rows)} records ({len(plan)} window ends) "
               f"{'to ' + str(out) if out else ''}".rstrip(), err=True)
