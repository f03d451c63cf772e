"""``support-kpi``: one entry point for the worker, local services, simulator and queries."""

from __future__ import annotations

import logging
import random
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from alerts.rules import Rule, Slo
from connectors.registry import IMPORTS
from devtools.services import ServiceConfig
from supportkpi.settings import Settings, SettingsError, load_settings, redact_url
from windows.config import KpiConfig, WindowSpec


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _parse_time(text: str) -> float:
    """RFC 3339 or epoch seconds → epoch seconds."""
    from streams.schema import parse_occurred_at

    try:
        return parse_occurred_at(float(text) if text.replace(".", "", 1).isdigit() else text) / 1000
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


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


# ---------------------------------------------------------------- services


def _service_options(f):  # type: ignore[no-untyped-def]
    f = click.option("--state-dir", type=click.Path(path_type=Path),
                     default=Path(".cache/services"), show_default=True,
                     help="Where Kafka and Redis keep data, logs and pid files.")(f)
    f = click.option("--kafka-port", type=int, default=9092, show_default=True)(f)
    f = click.option("--controller-port", type=int, default=None,
                     help="KRaft controller port [default: kafka port + 1].")(f)
    f = click.option("--redis-port", type=int, default=6379, show_default=True)(f)
    return f


def _service_config(state_dir: Path, kafka_port: int, controller_port: int | None,
                    redis_port: int) -> ServiceConfig:
    return ServiceConfig(state_dir=state_dir.resolve(), kafka_port=kafka_port,
                         controller_port=controller_port or kafka_port + 1,
                         redis_port=redis_port)


@main.group()
def services() -> None:
    """Start, check and stop local Apache Kafka (KRaft) and redis-server on loopback."""


@services.command("up")
@_service_options
def services_up(**kw: object) -> None:
    """Start Kafka and Redis (reuses running ones); waits until both answer."""
    from devtools.services import ServiceError, up

    try:
        up(_service_config(**kw))  # type: ignore[arg-type]
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None


@services.command("down")
@_service_options
def services_down(**kw: object) -> None:
    """Stop the Kafka and Redis started by `services up`."""
    from devtools.services import down

    down(_service_config(**kw))  # type: ignore[arg-type]


@services.command("status")
@_service_options
def services_status(**kw: object) -> None:
    """Print whether each service is running and healthy (exit 1 if not)."""
    from devtools.services import status

    st = status(_service_config(**kw))  # type: ignore[arg-type]
    for name, ok in st.items():
        click.echo(f"{name}: {'up' if ok else 'down'}")
    if not all(st.values()):
        sys.exit(1)


def _cluster_options(f):  # type: ignore[no-untyped-def]
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
@_cluster_options
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
@_cluster_options
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


# ---------------------------------------------------------------- worker


@main.command()
@click.option("--kafka", "kafka_bootstrap", help="Kafka bootstrap [SUPPORT_KAFKA_BOOTSTRAP].")
@click.option("--redis", "redis_url", help="Redis URL [SUPPORT_REDIS_URL].")
@click.option("--metrics-port", type=int, help="Port of /metrics [SUPPORT_METRICS_PORT].")
def worker(**overrides: object) -> None:
    """Run the stream worker: consume tickets and chats, apply to Redis, serve /metrics."""
    from kafka.errors import KafkaError

    from supportkpi.worker import run_worker

    s = _settings(**overrides)
    try:
        run_worker(s)
    except SettingsError as exc:  # e.g. the alert rules, checked before anything starts
        raise click.ClickException(str(exc)) from None
    except KafkaError as exc:  # raised by the start-up topic check, before Faust runs
        who = f" as {s.kafka_username}" if s.kafka_username else ""
        raise click.ClickException(
            f"Kafka at {s.kafka_bootstrap} refused the worker{who} "
            f"({s.kafka_security_protocol}): {type(exc).__name__}: {exc}. Check "
            "SUPPORT_KAFKA_BOOTSTRAP and SUPPORT_KAFKA_SECURITY_PROTOCOL/SASL_MECHANISM/"
            "USERNAME/PASSWORD.") from None


@main.command()
@click.option("--kafka", "kafka_bootstrap", help="Kafka bootstrap [SUPPORT_KAFKA_BOOTSTRAP].")
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

    s = _settings(**overrides)
    try:  # the settings first: a missing secret is one line before any connection
        if not s.webhook_secrets():
            raise click.UsageError("no connector configured: set SUPPORT_CONNECTORS "
                                   "(e.g. chatwoot) and its SUPPORT_<VENDOR>_WEBHOOK_SECRET")
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    _kafka_check(s)
    try:
        run_intake(s)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    except KafkaError as exc:
        raise click.ClickException(f"Kafka at {s.kafka_bootstrap} refused the intake: "
                                   f"{type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------- simulate


def _kafka_check(s: Settings, option: str = "--kafka") -> None:
    """One line, at once, when nothing listens at the bootstrap servers (kafka-python
    would retry for half a minute and then raise a traceback)."""
    from supportkpi.preflight import kafka_unreachable

    why = kafka_unreachable(s.kafka_bootstrap)
    if why:
        raise click.ClickException(
            f"{why}; start Kafka (`support-kpi services up`) or point {option} / "
            "SUPPORT_KAFKA_BOOTSTRAP at a running broker")


def _producer(s: Settings, **options: object):  # type: ignore[no-untyped-def]
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    _kafka_check(s)
    try:
        return KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all",
                             **s.kafka_python_options(), **options)
    except KafkaError as exc:
        raise click.ClickException(
            f"Kafka at {s.kafka_bootstrap} refused the producer: {type(exc).__name__}: "
            f"{exc}; check SUPPORT_KAFKA_BOOTSTRAP and SUPPORT_KAFKA_SECURITY_PROTOCOL/"
            "SASL_MECHANISM/USERNAME/PASSWORD") from None


@main.command()
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
                   "FirstResponseP90High of deploy/alerts.yml, then recovers. Repeatable.")
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
@click.option("--kafka", "kafka_bootstrap", help="Kafka bootstrap [SUPPORT_KAFKA_BOOTSTRAP].")
def simulate(rate: float, duration: float, backfill: str | None, speed: float, profile: str,
             incidents: tuple[str, ...], seed: int | None, invalid_rate: float,
             duplicate_rate: float, out: Path | None, until: str | None,
             kafka_bootstrap: str | None) -> None:
    """Simulate a support floor into Kafka: tickets, chats with bot handoffs, agent
    replies, escalations, abandoned chats, solves, reopens and surveys.

    Every conversation is eventually answered or abandoned, so the floor stays in a
    steady state however long it runs.
    """
    from devtools import simulate as sim
    from windows.config import parse_duration_ms

    s = _settings(kafka_bootstrap=kafka_bootstrap)
    seed = seed if seed is not None else random.randrange(1_000_000)
    now_ms = int((_parse_time(until) if until else time.time()) * 1000)
    try:
        start_ms = now_ms - (parse_duration_ms(backfill) if backfill else 0)
        params = sim.FloorParams(
            seed=seed, rate_per_min=rate, profile=sim.profile_from_text(profile),
            incidents=tuple(sim.incident_from_text(i, start_ms) for i in incidents))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if out is not None:
        _write_history(out, sim.generate(params, start_ms, now_ms, chunk="b"))
        return
    producer = _producer(s, linger_ms=5)
    for inc in params.incidents:
        click.echo(f"incident: {inc.queue} unstaffed from {_iso(inc.start_ms)} to "
                   f"{_iso(inc.end_ms)} (expect {inc.expected_alert} for queue={inc.queue})",
                   err=True)
    end = None if not duration else now_ms + int(duration * 1000)
    sender = _Sender(producer, s, random.Random(seed), invalid_rate, duplicate_rate)
    click.echo(f"seed {seed}; {rate:g} conversations/min"
               + (f"; history from {_iso(start_ms)} at {speed:g}x" if backfill else "")
               + (f"; live for {duration:g}s" if duration else "; live until interrupted"),
               err=True)
    started = time.time()
    try:
        _play(sim.live(params, start_ms, end), sender, start_ms, now_ms, speed, end)
    except KeyboardInterrupt:
        pass
    finally:
        producer.flush()
        producer.close()
    c = sender.counts
    click.echo(f"sent {c['sent']} events ({c['duplicate']} duplicates, {c['invalid']} "
               f"invalid) in {time.time() - started:.0f}s", err=True)


def _iso(t_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_history(out: Path, history: list[dict[str, object]]) -> None:
    import gzip
    import json

    opener = gzip.open if out.suffix == ".gz" else open
    with opener(out, "wt") as fh:
        for e in history:
            fh.write(json.dumps(e) + "\n")
    click.echo(f"wrote {len(history)} events to {out}")


class _Sender:
    """Routes events to their topic, adding the requested duplicates and invalid lines."""

    def __init__(self, producer: object, s: Settings, rng: random.Random,
                 invalid_rate: float, duplicate_rate: float) -> None:
        self._producer = producer
        self._s = s
        self._rng = rng
        self._invalid = invalid_rate
        self._duplicate = duplicate_rate
        self.counts = {"sent": 0, "invalid": 0, "duplicate": 0}

    def __call__(self, e: dict[str, object]) -> None:
        from devtools import simulate as sim

        send = self._producer.send  # type: ignore[attr-defined]
        for topic, key, value in sim.route([e], self._s.topic_tickets, self._s.topic_chats):
            send(topic, key=key, value=value)
            self.counts["sent"] += 1
            if self._duplicate and self._rng.random() < self._duplicate:
                send(topic, key=key, value=value)
                self.counts["duplicate"] += 1
            if self._invalid and self._rng.random() < self._invalid:
                send(topic, key=key, value=self._rng.choice(sim.INVALID_SAMPLES))
                self.counts["invalid"] += 1


def _play(events: Iterator[dict[str, object]], send: _Sender, start_ms: int, now_ms: int,
          speed: float, end_ms: int | None) -> None:
    """Send in time order, each when the simulated clock reaches it (see ``due_s``); a
    progress bar over the history, then quiet live traffic until ``end_ms`` or SIGTERM."""
    from tqdm import tqdm

    from devtools.simulate import due_s

    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    wall0 = time.time()
    span_s = max(0.0, (now_ms - start_ms) / 1000)
    bar = tqdm(total=round(span_s / 60), unit="sim min", desc="history",
               disable=span_s == 0, mininterval=1)
    for e in events:
        t_ms = float(e["occurred_at"]) * 1000  # type: ignore[arg-type]
        due = due_s(t_ms, start_ms, wall0, speed)
        while not stop and (wait := due - time.time()) > 0:
            time.sleep(min(0.2, wait))
        if stop or (end_ms is not None and t_ms >= end_ms):
            break
        if not bar.disable and t_ms <= now_ms:
            bar.update(round((t_ms - start_ms) / 60_000) - bar.n)
        elif not bar.disable:
            bar.close()
            bar.disable = True
        send(e)
    bar.close()


# ---------------------------------------------------------------- query


@main.command()
@click.option("--window", "window_names", multiple=True, default=("15m",), show_default=True,
              help="One of the configured windows (SUPPORT_WINDOWS); repeat for several.")
@click.option("--at", "ats", multiple=True,
              help="Evaluate as of this time (RFC 3339 or epoch seconds) instead of now; "
                   "repeat for several.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.option("--redis", "redis_url", help="Redis URL [SUPPORT_REDIS_URL].")
def query(window_names: tuple[str, ...], ats: tuple[str, ...], as_json: bool,
          redis_url: str | None) -> None:
    """Print the KPI table of a window, one row per queue/channel combination."""
    import redis as redis_lib

    from alerts.store import AlertStore
    from serve.query import alert_table, render
    from windows.clients import connect
    from windows.keys import Keys
    from windows.reader import WindowReader

    s = _settings(redis_url=redis_url)
    cfg = s.kpi_config()
    specs = _windows(cfg, window_names)
    try:
        client = connect(s.redis_url, **s.redis_options())
    except redis_lib.RedisError as exc:  # a cluster client asks for the topology here
        raise click.ClickException(f"cannot read Redis at {redact_url(s.redis_url)}: "
                                   f"{exc}") from None
    reader = WindowReader(client, Keys(s.key_prefix), cfg, time.time, **s.read_options())
    out = []
    try:
        # --at T: windows end at T and live ages are measured to T; otherwise the read clock
        times = [(t, t) for t in (int(_parse_time(a) * 1000) for a in ats)]
        if not times:
            rt = reader.read_time()
            times = [(rt.window_end_ms, rt.live_ms)]
        for at_ms, live_ms in times:
            gauges = reader.gauges(live_ms)
            out += [render(reader.window(w, at_ms), gauges, as_json) for w in specs]
        alert_states = AlertStore(client, Keys(s.key_prefix)).read()
    except redis_lib.RedisError as exc:
        raise click.ClickException(f"cannot read Redis at {redact_url(s.redis_url)}: "
                                   f"{exc}") from None
    click.echo(("\n" if as_json else "\n\n").join(out))
    if not as_json:
        click.echo("\n" + alert_table(alert_states, int(time.time() * 1000)))


@main.command()
@click.option("--from", "from_", required=True, help="Start of the range (RFC 3339 or epoch "
              "seconds).")
@click.option("--to", "to", required=True, help="End of the range: the last window ends here.")
@click.option("--window", "window_names", multiple=True, default=("1h",), show_default=True,
              help="A configured window; repeat for several.")
@click.option("--every", default=None,
              help="Time between window ends (e.g. 15m); default each window's length, so "
                   "its records tile the range.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")
@click.option("--redis", "redis_url", help="Redis URL [SUPPORT_REDIS_URL].")
def export(from_: str, to: str, window_names: tuple[str, ...], every: str | None, fmt: str,
           out: Path | None, redis_url: str | None) -> None:
    """Write the windows of a time range for reports: one record per window end, window
    and dimension combination, every KPI a column (CSV) or field (JSON lines).

    The store keeps each bucket for the longest window plus SUPPORT_BUCKET_TTL_MARGIN
    after it was written: export a live floor's recent past, or replay a history (read
    on the event clock) and export it.
    """
    import redis as redis_lib
    from tqdm import tqdm

    from serve.export import ends, records, to_csv, to_jsonl
    from windows.clients import connect
    from windows.durations import parse_duration_ms
    from windows.errors import ConfigError
    from windows.keys import Keys
    from windows.reader import WindowReader

    s = _settings(redis_url=redis_url)
    cfg = s.kpi_config()
    specs = _windows(cfg, window_names)
    lo, hi = int(_parse_time(from_) * 1000), int(_parse_time(to) * 1000)
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


def _windows(cfg: KpiConfig, names: Sequence[str]) -> list[WindowSpec]:
    from windows.errors import ConfigError

    try:
        return [cfg.window(n) for n in names]
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from None


def _open_events(path: Path):  # type: ignore[no-untyped-def]
    import gzip

    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--window", "window_names", multiple=True, default=("15m",), show_default=True,
              help="A configured window; repeat for several.")
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
    import json

    from devtools import oracle as orc
    from serve.query import render
    from windows.reader import WindowSnapshot

    s = _settings()
    cfg = s.kpi_config()
    specs = _windows(cfg, window_names)
    n_part = partitions or s.topic_partitions
    times_ms = [int(_parse_time(a) * 1000) for a in ats]
    from streams.arrival import time_order

    messages = []
    times: list[int | None] = []
    topic_of: dict[str, str] = {}
    with _open_events(file) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                doc = json.loads(line)
                cid, typ = str(doc.get("conversation_id", "")), str(doc.get("type", ""))
            except (ValueError, AttributeError, RecursionError):
                cid, typ = "", ""
            topic = _topic_of(typ, cid, topic_of, s)
            messages.append((topic, orc.partition_of(cid.encode(), n_part), line))
            times.append(_time_of(line))
    if order == "time" and len(messages) <= sort_limit:  # as replay sent it
        messages = [messages[i] for i in time_order(times)]
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


def _time_of(line: bytes) -> int | None:
    """A line's event time as replay reads it (None: no valid time)."""
    import json

    from streams.schema import parse_occurred_at

    try:
        return parse_occurred_at(json.loads(line).get("occurred_at"))
    except (ValueError, AttributeError, TypeError, RecursionError):
        return None


def _topic_of(typ: str, cid: str, seen: dict[str, str], s: Settings) -> str:
    """The input topic a replayed line goes to (and the oracle keys its lateness by):
    tickets and chats by type, a survey (or anything else) where its conversation went."""
    if typ.startswith("ticket."):
        return seen.setdefault(cid, s.topic_tickets)
    if typ.startswith("chat."):
        return seen.setdefault(cid, s.topic_chats)
    return seen.get(cid, s.topic_tickets)


@dataclass(frozen=True)
class _Line:
    """One line of a history to replay: its time (None: not a valid event), routing, bytes."""

    t_ms: int | None
    topic: str
    key: bytes | None
    raw: bytes


def _lines(file: Path, s: Settings, lo: float | None, hi: float | None,
           skipped: list[int]) -> Iterator[_Line]:
    """The history's lines inside --from/--to in file order, with their routing; the
    count of those outside goes to ``skipped[0]``."""
    import json

    from streams.schema import parse_occurred_at

    topic_of: dict[str, str] = {}
    with _open_events(file) as fh:
        for raw in fh:
            raw = raw.strip()
            if not raw:
                continue
            try:
                doc = json.loads(raw)
                cid = str(doc.get("conversation_id", ""))
                typ = str(doc.get("type", ""))
                t_ms = parse_occurred_at(doc.get("occurred_at"))
            except (ValueError, AttributeError, TypeError, RecursionError):
                cid, typ, t_ms = "", "", None
            if (lo is not None or hi is not None) and (
                    t_ms is None or (lo is not None and t_ms < lo)
                    or (hi is not None and t_ms >= hi)):
                skipped[0] += 1
                continue
            yield _Line(t_ms, _topic_of(typ, cid, topic_of, s),
                        cid.encode() if cid else None, raw)


def _partitions(s: Settings) -> dict[str, int]:
    """Partition counts of the input topics, read without creating them (a producer's
    metadata request would auto-create a missing one with the broker's default count);
    the configured count for one the worker has not created yet."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    out = {t: s.topic_partitions for t in (s.topic_tickets, s.topic_chats)}
    try:
        admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap,
                                 **s.kafka_python_options())
    except KafkaError:
        return out
    try:
        existing = set(admin.list_topics())
        for d in admin.describe_topics([t for t in out if t in existing]):
            name = d.get("topic") or d.get("name")
            if name in out and d.get("partitions"):
                out[name] = len(d["partitions"])
    finally:
        admin.close()
    return out


def _send(producer: Any, lines: Iterator[_Line], speed: float, total: int,
          desc: str = "replay") -> dict[str, int]:
    from tqdm import tqdm

    sent: dict[str, int] = {}
    started = time.time()
    first_t: int | None = None
    with tqdm(total=total, unit="ev", desc=desc) as bar:
        for line in lines:
            bar.update(1)
            if speed > 0 and line.t_ms is not None:
                first_t = line.t_ms if first_t is None else first_t
                delay = started + (line.t_ms - first_t) / 1000.0 / speed - time.time()
                if delay > 0:
                    time.sleep(delay)
            producer.send(line.topic, key=line.key, value=line.raw)
            sent[line.topic] = sent.get(line.topic, 0) + 1
    return sent


@main.command()
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
@click.option("--kafka", "kafka_bootstrap", help="Kafka bootstrap [SUPPORT_KAFKA_BOOTSTRAP].")
def replay(file: Path, speed: float, from_: str | None, to: str | None, order: str,
           sort_limit: int, accept_late: bool, kafka_bootstrap: str | None) -> None:
    """Produce a JSONL (optionally .gz) event file to Kafka, in event-time order.

    Tickets go to the tickets topic, chats to the chats topic, surveys follow their
    conversation; the key is the conversation id. Lines that are not valid events are
    sent as they are (the worker dead-letters them) unless a time filter needs their time.
    The worker drops an event more than SUPPORT_ALLOWED_LATENESS older than the newest of
    its partition: replay says how many that will be, and refuses (before sending) when
    it is any, unless --accept-late.
    """
    from streams.arrival import LateCounter, count_late, time_order

    s = _settings(kafka_bootstrap=kafka_bootstrap)
    lo = _parse_time(from_) * 1000 if from_ else None
    hi = _parse_time(to) * 1000 if to else None
    with _open_events(file) as fh:
        total = sum(1 for line in fh if line.strip())
    lateness_ms = s.kpi_config().allowed_lateness_ms
    producer = _producer(s, linger_ms=10, batch_size=256 * 1024)
    try:
        partitions = _partitions(s)
        in_file_order = LateCounter(lateness_ms, partitions)
        sort = order == "time" and total <= sort_limit
        skipped = [0]
        lines = list(_lines(file, s, lo, hi, skipped)) if sort else None
        for ln in lines if lines is not None else _lines(file, s, lo, hi, skipped):
            if ln.t_ms is not None:
                in_file_order.arrive(ln.topic, ln.key or b"", ln.t_ms)
        if lines is not None:
            lines = [lines[i] for i in time_order([ln.t_ms for ln in lines])]
            late = count_late(((ln.topic, ln.key or b"", ln.t_ms) for ln in lines),
                              lateness_ms, partitions)
        else:
            late = in_file_order.late
        _say_late(file, late, in_file_order.late, sort, order, total, sort_limit,
                  accept_late, s.allowed_lateness)
        todo = iter(lines) if lines is not None else _lines(file, s, lo, hi, [0])
        sent = _send(producer, todo, speed, total - skipped[0])
        producer.flush()
    except KeyboardInterrupt:
        click.echo("interrupted; flushing what was sent", err=True)
        producer.flush()
        return
    finally:
        producer.close()
    n = sum(sent.values())
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(sent.items()))
    click.echo(f"replayed {n} events ({detail}) in {'time' if sort else 'file'} order; "
               f"{skipped[0]} outside --from/--to; the worker drops {late} as late", err=True)


def _say_late(file: Path, late: int, file_late: int, sorted_: bool, order: str, total: int,
              sort_limit: int, accept_late: bool, lateness: str) -> None:
    """Tell what the lateness policy will do, and refuse a replay that loses events."""
    if sorted_ and file_late:
        click.echo(f"{file}: sorted by occurred_at (in file order the worker would have "
                   f"dropped {file_late} events as late)", err=True)
    if not late:
        return
    why = (f"it has {total} lines, more than --sort-limit {sort_limit}" if order == "time"
           else "--order file")
    msg = (f"{file}: in the order sent ({why}) the worker will drop {late} events as late: "
           f"each is more than SUPPORT_ALLOWED_LATENESS ({lateness}) older than an event "
           "sent before it on its partition")
    if not accept_late:
        raise click.ClickException(f"{msg}; sort the file by occurred_at, raise "
                                   "--sort-limit, or pass --accept-late to send it anyway")
    click.echo(f"warning: {msg} (--accept-late)", err=True)


def _read_docs(files: Sequence[Path]) -> Iterator[dict[str, Any]]:
    """JSON documents of export files: a ``.json`` file is one document (a page), a
    ``.jsonl`` (or ``.gz``) file one per line."""
    import json

    for path in files:
        with _open_events(path) as fh:
            text = fh.read()
        try:
            if path.name.endswith((".jsonl", ".jsonl.gz")):
                yield from (json.loads(ln) for ln in text.splitlines() if ln.strip())
            else:
                yield json.loads(text)
        except ValueError as exc:
            raise click.ClickException(f"{path}: not JSON: {exc}") from None


@main.command("import")
@click.argument("vendor", type=click.Choice(sorted(IMPORTS)))
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account", default="0", show_default=True,
              help="The vendor account id (Zendesk's account_id, Chatwoot's account id, "
                   "Intercom's app id), so imported conversations and live webhooks share "
                   "conversation ids.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the schema v1 events as JSON lines here instead of producing them.")
@click.option("--kafka", "kafka_bootstrap", help="Kafka bootstrap [SUPPORT_KAFKA_BOOTSTRAP].")
def import_(vendor: str, files: tuple[Path, ...], account: str, out: Path | None,
            kafka_bootstrap: str | None) -> None:
    """Import a helpdesk's history export: map it to schema v1, sort it by event time and
    produce it (or write it with --out), with a summary of what was skipped and why.

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
    import json

    from streams.arrival import time_order

    imported = IMPORTS[vendor](_read_docs(files), account)
    raw = [json.dumps(e).encode() for e in imported.events]
    times = [_time_of(ln) for ln in raw]
    order = time_order(times)
    events = [imported.events[i] for i in order]
    lines = [raw[i] for i in order]
    times = [times[i] for i in order]
    if out is not None:
        out.write_bytes(b"".join(ln + b"\n" for ln in lines))
        where = str(out)
    else:
        s = _settings(kafka_bootstrap=kafka_bootstrap)
        producer = _producer(s, linger_ms=10, batch_size=256 * 1024)
        try:
            routed = (_Line(t, s.topic_chats if e["type"].startswith("chat.")
                            else s.topic_tickets, str(e["conversation_id"]).encode(), ln)
                      for e, ln, t in zip(events, lines, times, strict=True))
            _send(producer, routed, 0.0, len(lines), desc=f"import {vendor}")
            producer.flush()
        finally:
            producer.close()
        where = "Kafka"
    def counts(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"

    click.echo(f"imported {len(lines)} events to {where} in event-time order; skipped "
               f"(nothing a KPI needs): {counts(imported.skipped)}; refused (cannot be "
               f"mapped): {counts(imported.refused)}", err=True)


# ---------------------------------------------------------------- alerts


@main.group()
def alerts() -> None:
    """Alert rules: validate them, and render them as a Prometheus rule file."""


def _load_rules(path: Path | None) -> tuple[Settings, list[Rule], list[Slo]]:
    """Settings with RULES (or SUPPORT_ALERT_RULES), the validated rules and SLOs, or a
    clear exit."""
    from supportkpi.settings import load_alerting

    s = _settings(alert_rules=path)
    if s.alert_rules is None:
        raise click.UsageError("no rules file: pass RULES or set SUPPORT_ALERT_RULES")
    try:
        return (s, *load_alerting(s))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@alerts.command("check")
@click.argument("rules", type=click.Path(dir_okay=False, path_type=Path), required=False)
def alerts_check(rules: Path | None) -> None:
    """Validate RULES (default SUPPORT_ALERT_RULES) and print them.

    KPIs and statistics: first_response, resolution, response, bot_time,
    frt_after_handoff (p50 p90 [p95 p99] mean count); frt_sla, fcr, escalation, reopen,
    abandonment, handoff, bot_containment, sla_first_reply, sla_next_reply,
    sla_resolution (ratio); csat (ratio mean); nps (value); ces (mean); live gauges open,
    waiting, oldest_waiting, oldest_waiting_business, breaching, at_risk (value; at_risk
    takes `within`: one of the
    SUPPORT_SLA_AT_RISK horizons). SLOs (`slos:`) alert on burn rate over window pairs
    and are rendered for Prometheus only. A rule that could not work (a NaN or infinite
    threshold, a ratio outside [0, 1], a dimension the KPI does not have, a label that
    overrides alertname or severity) is refused with one line naming rule and field.
    """
    s, loaded, slos = _load_rules(rules)
    for r in loaded:
        per = ",".join(r.per) or "floor"
        clear = f" (clear {r.clear:g})" if r.clear is not None else ""
        within = f" within {r.within}" if r.within else ""
        click.echo(f"{r.name:28} {r.severity:8} {r.kpi}.{r.statistic}{within} "
                   f"{r.window or 'now':>4} per {per:14} {r.comparison} {r.threshold:g}"
                   f"{clear} for {r.for_} min {r.min_samples}")
    for o in slos:
        per = ",".join(o.per) or "floor"
        pairs = ", ".join(f"{b.factor:g}x {b.long}/{b.short} {b.severity}"
                          for b in o.burn_rates)
        click.echo(f"{o.name:28} slo      {o.kpi} objective {o.objective:g} per {per:14} "
                   f"burn {pairs}")
    click.echo(f"{len(loaded)} rules, {len(slos)} SLOs OK ({s.alert_rules})", err=True)


@alerts.command("render")
@click.argument("rules", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")
def alerts_render(rules: Path | None, out: Path | None) -> None:
    """Render RULES as a Prometheus rule file: the threshold rules, the SLOs' multi-window
    burn-rate rules, and the pipeline-silent and Watchdog rules."""
    from alerts.render import render
    from supportkpi.settings import gauge_label_dims, window_label_dims

    s, loaded, slos = _load_rules(rules)
    text = render(loaded, window_label_dims(s), gauge_label_dims(s), slos)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        click.echo(f"wrote {out}", err=True)


# ---------------------------------------------------------------- demo


@main.command()
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
                   "FirstResponseP90High fires for that queue, then resolves.")
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

    plan = DemoPlan(services=_service_config(**svc),  # type: ignore[arg-type]
                    metrics_port=metrics_port, rate=rate, history=history, speed=speed,
                    incidents=incidents, keep=keep, seed=seed)
    try:
        sys.exit(run(plan))
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    main()
