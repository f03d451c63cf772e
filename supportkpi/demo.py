"""`support-kpi demo`: local Kafka and Redis, the worker with the bundled alert rules, and
a simulated floor (conversations and, on the agents topic, its agents), started fresh each
time and stopped together.

Everything a first run gets wrong is checked before anything starts: the settings and
rules, the ports, a demo already running. Output goes to standard error, and stopping
never depends on it being read (``make demo | tee log`` then Ctrl-C kills ``tee`` first).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devtools.services import ServiceConfig, ServiceError, down, topics_exist, up
from supportkpi.preflight import port_taken
from supportkpi.settings import SettingsError, load_alert_rules, load_settings

DEFAULT_RULES = Path("deploy/alerts.yml")
# the shipped floor's business calendars, SLA policies and staffing targets (override with
# the variables)
DEFAULTS = {"SUPPORT_ALERT_RULES": DEFAULT_RULES, "SUPPORT_CALENDARS": Path("deploy/calendars.yml"),
            "SUPPORT_SLA_POLICIES": Path("deploy/sla_policies.yml"),
            "SUPPORT_STAFFING": Path("deploy/staffing.yml")}
# settings the demo chooses unless the user set them (or, for the staffing window, the
# windows it must be one of): the agent gauges per team too, and the staffing need over
# the last hour. A demo floor is small and played fast: over 15 minutes a queue's arrivals
# swing enough that an incident's gap can dip under UnderstaffedQueue's clear level
# before the incident ends (one CI run of the e2e demo test saw it 3 minutes early)
DEMO_SETTINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "SUPPORT_GAUGE_DIMENSIONS": ("all,queue,channel,team,queue*channel", ()),
    "SUPPORT_STAFFING_WINDOW": ("1h", ("SUPPORT_WINDOWS",))}


class DemoError(Exception):
    """The demo cannot start; the message is one line naming what to change."""


@dataclass(frozen=True)
class DemoPlan:
    services: ServiceConfig
    metrics_port: int
    rate: float
    history: str
    speed: float
    incidents: tuple[str, ...] = ()
    keep: bool = False
    seed: int | None = None

    @property
    def pidfile(self) -> Path:
        return self.services.state_dir / "demo.pid"


def say(text: str) -> None:
    """Progress on standard error; a closed terminal or pipe never stops the demo's
    clean-up halfway."""
    with contextlib.suppress(BrokenPipeError, OSError):
        print(text, file=sys.stderr, flush=True)


def _alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def preflight(plan: DemoPlan, env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The worker's environment and input topics, or :class:`DemoError` before anything
    is touched."""
    running = _alive(plan.pidfile)
    if running:
        raise DemoError(f"a demo is already running (pid {running}, state in "
                        f"{plan.services.state_dir}); stop it with Ctrl-C in its terminal "
                        f"or `kill {running}`")
    s = plan.services
    ports = (("--kafka-port", s.kafka_port), ("--controller-port", s.controller_port),
             ("--redis-port", s.redis_port), ("--metrics-port", plan.metrics_port))
    for option, port in ports:
        if port_taken("127.0.0.1", port):
            raise DemoError(f"port {port} is in use by another process; stop it or choose "
                            f"another with {option}")
    out = {**env, "SUPPORT_KAFKA_BOOTSTRAP": s.bootstrap,
           "SUPPORT_REDIS_URL": s.redis_url, "SUPPORT_METRICS_PORT": str(plan.metrics_port)}
    out.setdefault("SUPPORT_METRICS_HOST", "127.0.0.1")
    out.setdefault("SUPPORT_DATA_DIR", str(s.state_dir / "faust"))
    for name, path in DEFAULTS.items():
        if name not in env and path.exists():
            out[name] = str(path.resolve())
    for name, (value, unless) in DEMO_SETTINGS.items():
        if name not in env and not any(u in env for u in unless):
            out[name] = value
    if "SUPPORT_CUSTOMER_KPIS" not in env:  # the floor's customers come back: show it
        out["SUPPORT_CUSTOMER_KPIS"] = "true"
        out.setdefault("SUPPORT_CUSTOMER_SECRET", _demo_secret(s.state_dir))
    if plan.speed > 0:  # compressed history: windows, gauges and alerts on its own clock,
        out["SUPPORT_READ_CLOCK"] = "event"  # evaluated about once a simulated minute
        out.setdefault("SUPPORT_ALERT_INTERVAL", f"{max(0.25, 60 / plan.speed):g}")
    topics = _check_settings(out)
    _check_floor(plan)
    return out, topics


def _demo_secret(state_dir: Path) -> str:
    """The demo's customer-hash key: the state directory's (written by :func:`run` once
    the checks passed), so a demo continued with --keep knows its customers again."""
    path = state_dir / "customer-secret"
    return path.read_text().strip() if path.exists() else secrets.token_hex(16)


def _keep_secret(state_dir: Path, env: dict[str, str]) -> None:
    secret = env.get("SUPPORT_CUSTOMER_SECRET")
    path = state_dir / "customer-secret"
    if secret and not path.exists():
        path.write_text(secret)
        path.chmod(0o600)


def _check_floor(plan: DemoPlan) -> None:
    from devtools.simulate import incident_from_text
    from kpi.config import parse_duration_ms
    from kpi.errors import ConfigError

    try:
        parse_duration_ms(plan.history)
    except (ConfigError, ValueError) as exc:
        raise DemoError(f"--history {plan.history!r}: {exc}") from None
    for inc in plan.incidents:
        try:
            incident_from_text(inc, 0)
        except (ConfigError, ValueError) as exc:
            raise DemoError(f"--incident: {exc}") from None


def _check_settings(env: dict[str, str]) -> list[str]:
    """The input topics, or :class:`DemoError` naming the setting that is wrong."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        s = load_settings()
        load_alert_rules(s)
        return [t for t in (s.topic_tickets, s.topic_chats, s.topic_agents) if t]
    except SettingsError as exc:
        raise DemoError(str(exc).replace("\n", " ")) from None
    finally:
        os.environ.clear()
        os.environ.update(saved)


def fresh_state(plan: DemoPlan) -> None:
    """Remove the previous demo's Kafka and Redis data (unless --keep): each demo starts
    from an empty floor instead of replaying every earlier run."""
    if plan.keep:
        say(f"continuing the previous demo's data in {plan.services.state_dir} (--keep)")
        return
    parts = [plan.services.state_dir / p for p in ("kafka/data", "redis", "faust")]
    if any(p.exists() for p in parts):
        say(f"starting from an empty floor: the previous demo's data in "
            f"{plan.services.state_dir} is removed (--keep continues it)")
    for part in parts:
        shutil.rmtree(part, ignore_errors=True)


def _simulator_args(plan: DemoPlan) -> list[str]:
    args = ["simulate", "--rate", str(plan.rate), "--duration", "0", "--backfill",
            plan.history, "--speed", str(plan.speed), "--profile", "day",
            "--invalid-rate", "0.01", "--duplicate-rate", "0.01",
            # a population of 5,000 per conversation a minute: a customer comes back within
            # half a day about one time in eight, whatever the rate, so the repeat-contact
            # tile moves and RepeatContactHigh (30%) pages nobody
            "--customers", str(max(1_000, int(5_000 * plan.rate)))]
    for inc in plan.incidents:
        args += ["--incident", inc]
    if plan.seed is not None:
        args += ["--seed", str(plan.seed)]
    return args


def banner(plan: DemoPlan) -> str:
    exe = Path(sys.executable).parent / "support-kpi"
    cli = str(exe) if exe.exists() else f"{sys.executable} -m supportkpi.cli"
    base = f"http://127.0.0.1:{plan.metrics_port}"
    env = f"SUPPORT_REDIS_URL={plan.services.redis_url} "
    return (f"\n  wall:    {base}/wall\n  metrics: {base}/metrics\n"
            f"  table:   {env}{cli} query --window 15m\n"
            "  Ctrl-C stops the demo and everything it started.\n")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run(plan: DemoPlan) -> int:
    """Start, supervise and stop; returns the exit status."""
    env, topics = preflight(plan, dict(os.environ))
    # Ctrl-C even where the parent ignored it (a background job), `kill`, a closed
    # terminal: all stop the demo the same way
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    fresh_state(plan)
    plan.services.state_dir.mkdir(parents=True, exist_ok=True)
    plan.pidfile.write_text(str(os.getpid()))
    if "SUPPORT_CUSTOMER_SECRET" not in os.environ:  # ours, not the user's: keep it
        _keep_secret(plan.services.state_dir, env)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        up(plan.services, say)
        exe = [sys.executable, "-m", "supportkpi.cli"]
        procs.append(subprocess.Popen([*exe, "worker"], env=env))
        if not _topics_ready(plan, topics, procs[0]):
            return 1
        procs.append(subprocess.Popen([*exe, *_simulator_args(plan)], env=env))
        say(banner(plan))
        return _supervise(procs)
    except ServiceError as exc:
        say(f"Error: {exc}")
        return 1
    except KeyboardInterrupt:
        say("\nstopping the demo ...")
        return 0
    finally:
        _stop(procs)
        try:
            down(plan.services, say)
        finally:
            plan.pidfile.unlink(missing_ok=True)


def _topics_ready(plan: DemoPlan, topics: list[str], worker: subprocess.Popen[bytes],
                  timeout_s: float = 120.0) -> bool:
    """Wait until the worker created the input topics: a simulator producing earlier gets
    "topic not found" errors from its client."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and worker.poll() is None:
        if topics_exist(plan.services.bootstrap, topics):
            return True
        time.sleep(0.5)
    say("Error: the worker " + ("exited" if worker.poll() is not None else
                                f"did not create {', '.join(topics)} within {timeout_s:.0f}s")
        + "; see its output above")
    return False


def _supervise(procs: Sequence[subprocess.Popen[bytes]]) -> int:
    worker, sim = procs
    announced = False
    while worker.poll() is None:
        if sim.poll() is not None and not announced:
            say("the simulator stopped: no more events (the wall will show STALE); the "
                "worker keeps serving")
            announced = True
        time.sleep(0.5)
    time.sleep(1.0)  # a Ctrl-C reaches the worker and this process together: let it land
    say(f"Error: the worker exited ({worker.returncode}); see its output above")
    return 1


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    # Ctrl-C in a terminal reached them too; a SIGTERM covers `kill` of the demo alone
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut clean-up
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
